"""OpenAPI helpers: the error envelope, each endpoint's error codes, the API key scheme."""

from collections import defaultdict

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as OpenApiAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from .errors import error_codes

ERROR_CODES = sorted(error_codes())  # named "ErrorCode" in the schema (SPECTACULAR_SETTINGS)

ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorBody",
            {
                "code": serializers.ChoiceField(choices=ERROR_CODES),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    required=False,
                    help_text="With invalid_request: the message(s) for each bad field.",
                ),
                "request_id": serializers.CharField(
                    required=False, help_text="With internal_error: the request id, as in its logged traceback."
                ),
            },
        )
    },
)

# Every endpoint can answer these.
COMMON = ("not_authenticated", "invalid_api_key", "csrf_failed", "method_not_allowed", "parse_error",
          "unsupported_media_type", "request_too_large", "invalid_request", "internal_error",
          "database_unavailable")  # fmt: skip


def error_responses(*codes):
    """{status: OpenApiResponse} listing the error codes an endpoint may answer with."""
    known = error_codes()
    by_status = defaultdict(list)
    for code in dict.fromkeys((*COMMON, *codes)):
        status, description = known[code]
        by_status[status].append(f"`{code}`: {description}")
    return {
        status: OpenApiResponse(ErrorSerializer, description="\n\n".join(lines))
        for status, lines in sorted(by_status.items())
    }


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "speech.authentication.APIKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>`: a tenant's API key (admin → API keys).",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "speech.authentication.SessionAuthentication"
    name = "Session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid",
                "description": "A logged-in user's session cookie; send the CSRF token in X-CSRFToken."}  # fmt: skip


class AutoSchema(OpenApiAutoSchema):
    """Names the HackSoft-style nested serializers after their view: RealtimeSessionApi.OutputSerializer
    becomes "RealtimeSession", its InputSerializer "RealtimeSessionInput"."""

    def get_serializer_name(self, serializer, direction):
        outer, _, inner = type(serializer).__qualname__.rpartition(".")
        if outer.endswith("Api") and inner in ("InputSerializer", "OutputSerializer"):
            return outer.removesuffix("Api") + ("Input" if inner == "InputSerializer" else "")
        return super().get_serializer_name(serializer, direction)


def api_paths_only(endpoints, **kwargs):
    """Document the versioned API; /realtime_session is the same view as /api/v1/realtime_session."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]
