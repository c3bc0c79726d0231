from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser

from . import errors


class LimitedJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies over SPEECH_MAX_BODY_BYTES before it reads them whole,
    and JSON nested deeper than Python's json module can decode (a RecursionError, else a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.SPEECH_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > limit:
            raise errors.RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


MAX_SDP_BYTES = 64 * 1024


class SDPParser(BaseParser):
    """An SDP offer (application/sdp) as text, at most 64 KiB."""

    media_type = "application/sdp"

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read(MAX_SDP_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_SDP_BYTES:
            raise errors.RequestTooLarge("The SDP offer is larger than 64 KiB.")
        text = body.decode("utf-8", "replace")
        if not text.startswith("v="):
            raise ParseError("The body is not an SDP offer.")
        return text
