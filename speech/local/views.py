"""The local provider's HTTP side, in the shape of OpenAI's GA interface.

POST v1/realtime/client_secrets  (Bearer: the local server key)   -> {value, expires_at, session}
POST v1/realtime/calls           (Bearer: a client secret, SDP)   -> 201 answer SDP, Location
"""

import json

from django.http import HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..providers.local import LOCAL_MODEL, local_api_key
from .client_secrets import client_secret_mint, client_secret_session
from .events import new_id

MAX_SDP_BYTES = 64 * 1024


def openai_error(status, message, *, code, type_="invalid_request_error", param=None):
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return with_cors(JsonResponse(body, status=status))


def with_cors(response):
    # Like OpenAI's API: callable from any page, authorised by bearer tokens (never cookies).
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "Location"
    return response


def preflight():
    response = with_cors(HttpResponse(status=204))
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response["Access-Control-Max-Age"] = "600"
    return response


def bearer(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _session_from_request(body):
    """Validate a ClientSecretCreateParams body; return (session, ttl) or an error response."""
    if not isinstance(body, dict):
        return None, openai_error(400, "The body must be a JSON object.", code="invalid_type")
    expires_after = body.get("expires_after") or {}
    ttl = expires_after.get("seconds", 600) if isinstance(expires_after, dict) else None
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 10 <= ttl <= 7200:
        return None, openai_error(
            400, "expires_after.seconds must be 10..7200.", code="invalid_value", param="expires_after.seconds"
        )
    requested = body.get("session") or {"type": "realtime", "model": LOCAL_MODEL}
    if not isinstance(requested, dict) or requested.get("type") != "realtime":
        return None, openai_error(400, "session.type must be 'realtime'.", code="invalid_value", param="session.type")
    if requested.get("model", LOCAL_MODEL) != LOCAL_MODEL:
        return None, openai_error(
            400, f"The local provider serves only {LOCAL_MODEL!r}.", code="model_not_found", param="session.model"
        )
    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": LOCAL_MODEL,
        "output_modalities": ["audio"],
        "instructions": requested.get("instructions", ""),
        "audio": {
            "input": {"turn_detection": {"type": "server_vad"}, **(requested.get("audio") or {}).get("input", {})},
            "output": {"voice": "verse", **(requested.get("audio") or {}).get("output", {})},
        },
    }
    return (session, ttl), None


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def client_secrets(request):
    if request.method == "OPTIONS":
        return preflight()
    if not constant_time_compare(bearer(request), local_api_key()):
        return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return openai_error(400, "The body is not valid JSON.", code="invalid_json")
    parsed, problem = _session_from_request(body)
    if problem:
        return problem
    session, ttl = parsed
    value, expires_at = client_secret_mint(session=session, ttl_seconds=ttl)
    return with_cors(JsonResponse({"value": value, "expires_at": expires_at, "session": session}))


def _unified_offer(request):
    """The unified interface: the server key, and multipart `sdp` + `session` fields. (offer, session) or an error."""
    if not request.content_type.startswith("multipart/form-data"):
        return None, openai_error(400, "Send multipart/form-data with sdp and session.", code="invalid_content_type")
    offer = request.POST.get("sdp", "")
    try:
        requested = json.loads(request.POST.get("session") or "{}")
    except ValueError:
        return None, openai_error(400, "session is not valid JSON.", code="invalid_json", param="session")
    parsed, problem = _session_from_request({"session": requested})
    return (offer, parsed[0] if parsed else None), problem


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def calls(request):
    if request.method == "OPTIONS":
        return preflight()
    if len(request.body) > MAX_SDP_BYTES:
        return openai_error(400, "The SDP offer is too large.", code="invalid_value")
    if constant_time_compare(bearer(request), local_api_key()):
        unified, problem = _unified_offer(request)
        if problem:
            return problem
        offer, session = unified
    else:
        session = client_secret_session(bearer(request))
        if session is None:
            return openai_error(401, "The client secret is missing, invalid or expired.", code="invalid_api_key")
        if request.content_type != "application/sdp":
            return openai_error(400, "Send the SDP offer as application/sdp.", code="invalid_content_type")
        offer = request.body.decode("utf-8", "replace")
    from .server import CallLimitReached, InvalidOffer, server  # aiortc loads only in a process that takes calls

    try:
        call_id, answer = server.answer(offer_sdp=offer, session=session)
    except CallLimitReached:
        return openai_error(429, "Too many concurrent calls on the local provider.", code="rate_limit_exceeded",
                            type_="rate_limit_error")  # fmt: skip
    except InvalidOffer as exc:
        return openai_error(400, f"The SDP offer is not valid: {exc}", code="invalid_offer")
    response = with_cors(HttpResponse(answer, status=201, content_type="application/sdp"))
    response["Location"] = f"{request.path}/{call_id}"
    return response


@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def hangup(request, call_id):
    if request.method == "OPTIONS":
        return preflight()
    if client_secret_session(bearer(request)) is None:
        return openai_error(401, "The client secret is missing, invalid or expired.", code="invalid_api_key")
    from .server import server

    if not server.hang_up(call_id):
        return openai_error(404, "No such call.", code="not_found")
    return with_cors(HttpResponse(status=200))
