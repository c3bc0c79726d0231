"""The local provider's HTTP side, in the shape of OpenAI's GA interface.

POST v1/realtime/client_secrets      (Bearer: a server key)                -> {value, expires_at, session}
POST v1/realtime/calls               (Bearer: a client secret, SDP)        -> 201 answer SDP, Location
                                     (Bearer: a server key, multipart)     -> the same (the unified interface)
POST v1/realtime/calls/{id}/hangup   (Bearer: its secret or account's key) -> 200

Server keys are accounts (speech.local.accounts); every limit counts per account, per process.
"""

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..providers.local import LOCAL_MODEL, local_api_key
from .accounts import key_account
from .client_secrets import client_secret_mint, client_secret_read
from .events import new_id
from .limits import FixedWindowLimiter, SecretLedger

MAX_SDP_BYTES = 64 * 1024

# Per local-provider process, like its calls.
rate_limiter = FixedWindowLimiter()
used_secrets = SecretLedger()


def local_state_clear():
    """Forget rate windows and used secrets (tests)."""
    rate_limiter.clear()
    used_secrets.clear()


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


def server_key_account(request):
    """The account of the request's server key, or None when it carries none."""
    return key_account(master=local_api_key(), key=bearer(request))


def request_caller(request):
    """(account, None) for a server key, (account, ClientSecret) for a valid client secret, else (None, None)."""
    account = server_key_account(request)
    if account is not None:
        return account, None
    secret = client_secret_read(bearer(request))
    return (secret.account, secret) if secret else (None, None)


def rate_limited(endpoint, account, rate):
    """A 429 in OpenAI's shape when `account` is over `rate` on `endpoint`, else None."""
    retry_after = rate_limiter.hit(f"{endpoint}:{account}", rate=rate)
    if not retry_after:
        return None
    response = openai_error(429, f"Rate limit reached for {endpoint} on the local provider; try again later.",
                            code="rate_limit_exceeded", type_="rate_limit_error")  # fmt: skip
    response["Retry-After"] = str(retry_after)
    return response


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
    account = server_key_account(request)
    if account is None:
        return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
    if limited := rate_limited("client_secrets", account, settings.LOCAL_REALTIME_RATE_CLIENT_SECRETS):
        return limited
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return openai_error(400, "The body is not valid JSON.", code="invalid_json")
    parsed, problem = _session_from_request(body)
    if problem:
        return problem
    session, ttl = parsed
    value, expires_at = client_secret_mint(session=session, ttl_seconds=ttl, account=account)
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
    account, secret = request_caller(request)
    if account is None:
        return openai_error(401, "The client secret is missing, invalid or expired.", code="invalid_api_key")
    if secret is None:
        unified, problem = _unified_offer(request)
        if problem:
            return problem
        offer, session = unified
    else:
        if request.content_type != "application/sdp":
            return openai_error(400, "Send the SDP offer as application/sdp.", code="invalid_content_type")
        offer, session = request.body.decode("utf-8", "replace"), secret.session
        # One call per secret: a leaked or replayed secret opens nothing more (and, refused here, costs
        # its account none of its rate).
        if not used_secrets.claim(secret.id, expires_at=secret.expires_at):
            return openai_error(401, "This client secret has already opened a call.", code="invalid_api_key")
    response = _answer_offer(request, offer=offer, session=session, account=account, secret=secret)
    if secret is not None and response.status_code != 201:
        used_secrets.release(secret.id)  # no call was opened: the page may try again with it
    return response


def _answer_offer(request, *, offer, session, account, secret):
    if limited := rate_limited("calls", account, settings.LOCAL_REALTIME_RATE_CALLS):
        return limited
    from .server import CallLimitReached, InvalidOffer, server  # aiortc loads only in a process that takes calls

    try:
        call_id, answer = server.answer(
            offer_sdp=offer, session=session, account=account, secret_id=secret.id if secret else None
        )
    except CallLimitReached as exc:
        return openai_error(429, str(exc), code="rate_limit_exceeded", type_="rate_limit_error")
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
    account, secret = request_caller(request)
    if account is None:
        return openai_error(401, "The client secret is missing, invalid or expired.", code="invalid_api_key")
    if limited := rate_limited("hangup", account, settings.LOCAL_REALTIME_RATE_HANGUPS):
        return limited
    from .server import server

    # Only the secret that opened the call, or its account's server key; anyone else learns nothing.
    if not server.hang_up(call_id, account=account, secret_id=secret.id if secret else None):
        return openai_error(404, "No such call.", code="not_found")
    return with_cors(HttpResponse(status=200))
