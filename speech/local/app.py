"""The local provider as a service of its own (aiohttp), in the shape of OpenAI's GA Realtime interface.

POST /v1/realtime/client_secrets      (Bearer: a server key)                       -> {value, expires_at, session}
POST /v1/realtime/calls               (Bearer: a client secret or a server key, SDP) -> 201 answer SDP, Location
                                      (Bearer: a server key, multipart sdp + session) -> the same
POST /v1/realtime/calls/{id}/hangup   (Bearer: its secret or its account's key)     -> 200
GET  /v1/realtime?call_id=...         (Bearer: its account's server key)            -> WebSocket sideband
GET  /v1/realtime?model=...           (Bearer: a server key or a client secret)     -> WebSocket session
POST /v1/audio/speech                 (Bearer: a server key, SpeechCreateParams)     -> 200 audio/wav (espeak-ng)
GET  /healthz                                                                        -> 200 ok

Server keys are accounts (speech.local.accounts); every limit counts per account, in this process.
No Django import: the gateway reaches this only over HTTP and WebSocket, like any provider.
"""

import json
import logging
import re

from aiohttp import web

from . import LOCAL_MODEL
from .accounts import key_account
from .audio import ESPEAK_VOICES, SPEAK_MAX_SECONDS, SpeechTooLong, speak, wav_bytes
from .client_secrets import client_secret_mint, client_secret_read
from .events import new_id
from .limits import FixedWindowLimiter, SecretLedger
from .server import CallLimitReached, InvalidOffer, LocalRealtimeServer
from .tools import tools_redact
from .transcription import recogniser
from .websocket import DeltaOutput, websocket_response, websocket_serve

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")

CONFIG = web.AppKey("config", object)
SERVER = web.AppKey("server", LocalRealtimeServer)
RATES = web.AppKey("rates", FixedWindowLimiter)
USED_SECRETS = web.AppKey("used_secrets", SecretLedger)


def openai_error(status, message, *, code, type_="invalid_request_error", param=None, headers=None):
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


# --- CORS: like OpenAI's API, callable from any page, authorised by bearer tokens (never cookies) ----------


@web.middleware
async def cors(request, handler):
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        # Any header the page asks for (the Agents SDK sends X-OpenAI-Agents-SDK, others OpenAI-Beta): no
        # cookie is ever accepted, so a header grants a page nothing its bearer token does not.
        requested = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
        allowed = [h for h in requested if HEADER_NAME.fullmatch(h)][:50]
        response.headers["Access-Control-Allow-Headers"] = ", ".join(allowed or ["Authorization", "Content-Type"])
        response.headers["Access-Control-Max-Age"] = "600"
    else:
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            response = openai_error(404, f"Invalid URL ({request.method} {request.path}).", code="not_found")
        except web.HTTPMethodNotAllowed:
            response = openai_error(405, f"{request.method} is not allowed here.", code="method_not_allowed")
        except web.HTTPRequestEntityTooLarge:
            response = openai_error(400, "The request body is too large.", code="invalid_value")
    if isinstance(response, web.WebSocketResponse):
        return response
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "Location"
    return response


# --- callers ----------------------------------------------------------------------------------------------


def bearer(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    # Browsers cannot set headers on a WebSocket: OpenAI takes the key as a subprotocol instead.
    for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        if protocol.strip().startswith(INSECURE_KEY_PROTOCOL):
            return protocol.strip().removeprefix(INSECURE_KEY_PROTOCOL)
    return ""


def server_key_account(request):
    """The account of the request's server key, or None when it carries none."""
    return key_account(master=request.app[CONFIG].api_key, key=bearer(request))


def request_caller(request):
    """(account, None) for a server key, (account, ClientSecret) for a valid client secret, else (None, None)."""
    account = server_key_account(request)
    if account is not None:
        return account, None
    secret = client_secret_read(bearer(request), master=request.app[CONFIG].api_key)
    return (secret.account, secret) if secret else (None, None)


def rate_limited(request, endpoint, account, rate):
    """A 429 in OpenAI's shape when `account` is over `rate` on `endpoint`, else None."""
    retry_after = request.app[RATES].hit(f"{endpoint}:{account}", rate=rate)
    if not retry_after:
        return None
    return openai_error(429, f"Rate limit reached for {endpoint} on the local provider; try again later.",
                        code="rate_limit_exceeded", type_="rate_limit_error",
                        headers={"Retry-After": str(retry_after)})  # fmt: skip


def session_from_request(body):
    """Validate a ClientSecretCreateParams body; return ((session, ttl), None) or (None, an error response)."""
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
    audio = requested.get("audio") if isinstance(requested.get("audio"), dict) else {}
    audio_in = audio.get("input") if isinstance(audio.get("input"), dict) else {}
    audio_out = audio.get("output") if isinstance(audio.get("output"), dict) else {}
    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": LOCAL_MODEL,
        "output_modalities": ["audio"],
        "instructions": requested.get("instructions", ""),
        "audio": {
            "input": {"turn_detection": {"type": "server_vad"}, **audio_in},
            "output": {"voice": "verse", **audio_out},
        },
    }
    # Tools, as OpenAI keeps them in the session (the model checks their shape when it uses them), less an MCP
    # tool's authorization and headers: the session is readable in the client secret and echoed to the browser.
    if isinstance(requested.get("tools"), list):
        session["tools"] = tools_redact(requested["tools"])
    if isinstance(requested.get("tool_choice"), (str, dict)):
        session["tool_choice"] = requested["tool_choice"]
    return (session, ttl), None


def default_session():
    return session_from_request({})[0][0]


# --- HTTP ---------------------------------------------------------------------------------------------------


async def client_secrets(request):
    account = server_key_account(request)
    if account is None:
        return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
    if limited := rate_limited(request, "client_secrets", account, request.app[CONFIG].rate_client_secrets):
        return limited
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return openai_error(400, "The body is not valid JSON.", code="invalid_json")
    parsed, problem = session_from_request(body)
    if problem:
        return problem
    session, ttl = parsed
    value, expires_at = client_secret_mint(
        master=request.app[CONFIG].api_key, session=session, ttl_seconds=ttl, account=account
    )
    return web.json_response({"value": value, "expires_at": expires_at, "session": session})


# OpenAI's text-to-speech models; the local provider speaks each with espeak-ng.
SPEECH_MODELS = ("gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "tts-1", "tts-1-hd")
SPEECH_MAX_INPUT = 4096  # OpenAI's limit
SPEECH_KEYS = {"input", "model", "voice", "instructions", "response_format", "speed", "stream_format"}


def speech_request_problem(body):
    """Why a SpeechCreateParams body cannot be spoken here (an error response), or None."""
    if not isinstance(body, dict):
        return openai_error(400, "The body must be a JSON object.", code="invalid_type")
    if unknown := sorted(set(body) - SPEECH_KEYS):
        return openai_error(400, f"Unrecognized request argument: {unknown[0]}.", code="unknown_parameter",
                            param=unknown[0])  # fmt: skip
    text = body.get("input")
    if not isinstance(text, str) or not text.strip() or len(text) > SPEECH_MAX_INPUT:
        return openai_error(400, f"input must be text of 1..{SPEECH_MAX_INPUT} characters.", code="invalid_value",
                            param="input")  # fmt: skip
    if body.get("model") not in SPEECH_MODELS:
        return openai_error(400, f"model must be one of {', '.join(SPEECH_MODELS)}.", code="model_not_found",
                            param="model")  # fmt: skip
    voice = body.get("voice")
    if isinstance(voice, dict) or voice not in ESPEAK_VOICES:
        return openai_error(400, f"The local provider speaks the voices {', '.join(ESPEAK_VOICES)}.",
                            code="invalid_value", param="voice")  # fmt: skip
    # mp3, opus, aac and flac need encoders this service does not carry: wav (its default) only.
    if body.get("response_format", "wav") != "wav":
        return openai_error(400, "The local provider answers only response_format 'wav'.", code="invalid_value",
                            param="response_format")  # fmt: skip
    if body.get("stream_format", "audio") != "audio":
        return openai_error(400, "The local provider streams only stream_format 'audio'.", code="invalid_value",
                            param="stream_format")  # fmt: skip
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        return openai_error(400, "speed must be 0.25..4.0.", code="invalid_value", param="speed")
    return None


async def audio_speech(request):
    """POST /v1/audio/speech: OpenAI's text-to-speech, spoken by espeak-ng in the voice mapped from OpenAI's
    (instructions are accepted and not followed)."""
    account = server_key_account(request)
    if account is None:
        return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
    if limited := rate_limited(request, "speech", account, request.app[CONFIG].rate_client_secrets):
        return limited
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        return openai_error(400, "The body is not valid JSON.", code="invalid_json")
    if problem := speech_request_problem(body):
        return problem
    speed = float(body.get("speed", 1.0))
    try:
        # All of the input is spoken, or the request is refused: never a silent cut.
        samples = await speak(body["input"], voice=body["voice"], speed=speed, max_chars=SPEECH_MAX_INPUT, whole=True)
    except SpeechTooLong:
        return openai_error(400, f"input would take more than {SPEAK_MAX_SECONDS} s to say at speed {speed:g}, the "
                            "most the local provider speaks at once: shorten it or raise speed.",
                            code="invalid_value", param="input")  # fmt: skip
    return web.Response(body=wav_bytes(samples), content_type="audio/wav")


async def _multipart_offer(request):
    """The multipart form of calls.create: `sdp` and `session` fields. (offer, session) or an error."""
    form = await request.post()

    def text(name):
        value = form.get(name, "")
        if isinstance(value, web.FileField):
            value = value.file.read()
        return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value

    try:
        requested = json.loads(text("session") or "{}")
    except ValueError:
        return None, openai_error(400, "session is not valid JSON.", code="invalid_json", param="session")
    parsed, problem = session_from_request({"session": requested})
    return (text("sdp"), parsed[0] if parsed else None), problem


async def calls(request):
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        return openai_error(400, "The SDP offer is too large.", code="invalid_value")
    account, secret = request_caller(request)
    if account is None:
        return openai_error(401, "The client secret is missing, invalid or expired.", code="invalid_api_key")
    if request.content_type == "multipart/form-data":
        if secret is not None:
            return openai_error(400, "A client secret posts its offer as application/sdp.",
                                code="invalid_content_type")  # fmt: skip
        parsed, problem = await _multipart_offer(request)
        if problem:
            return problem
        offer, session = parsed
    elif request.content_type == "application/sdp":
        offer = (await request.read()).decode("utf-8", "replace")
        session = secret.session if secret else default_session()
    else:
        return openai_error(400, "Send the SDP offer as application/sdp, or multipart sdp + session.",
                            code="invalid_content_type")  # fmt: skip
    # One call per secret: a leaked or replayed secret opens nothing more (and, refused here, costs its
    # account none of its rate).
    if secret is not None and not request.app[USED_SECRETS].claim(secret.id, expires_at=secret.expires_at):
        return openai_error(401, "This client secret has already opened a call.", code="invalid_api_key")
    response = await _answer_offer(request, offer=offer, session=session, account=account, secret=secret)
    if secret is not None and response.status != 201:
        request.app[USED_SECRETS].release(secret.id)  # no call was opened: the page may try again with it
    return response


async def _answer_offer(request, *, offer, session, account, secret):
    if limited := rate_limited(request, "calls", account, request.app[CONFIG].rate_calls):
        return limited
    try:
        call_id, answer = await request.app[SERVER].answer(
            offer_sdp=offer, session=session, account=account, secret_id=secret.id if secret else None
        )
    except CallLimitReached as exc:
        return openai_error(429, str(exc), code="rate_limit_exceeded", type_="rate_limit_error")
    except InvalidOffer as exc:
        return openai_error(400, f"The SDP offer is not valid: {exc}", code="invalid_offer")
    return web.Response(
        text=answer, status=201, content_type="application/sdp", headers={"Location": f"{request.path}/{call_id}"}
    )


async def hangup(request):
    account, secret = request_caller(request)
    if account is None:
        return openai_error(401, "The client secret is missing, invalid or expired.", code="invalid_api_key")
    if limited := rate_limited(request, "hangup", account, request.app[CONFIG].rate_hangups):
        return limited
    # Only the secret that opened the call, or its account's server key; anyone else learns nothing.
    found = await request.app[SERVER].hang_up(
        request.match_info["call_id"], account=account, secret_id=secret.id if secret else None
    )
    if not found:
        return openai_error(404, "No such call.", code="not_found")
    return web.Response(status=200)


async def not_emulated(request):
    return openai_error(
        400, "The local provider does not emulate SIP calls (accept, reject, refer).", code="unsupported_call_type"
    )


async def healthz(request):
    return web.json_response({"status": "ok", "calls": len(request.app[SERVER].calls)})


# --- WebSocket ------------------------------------------------------------------------------------------------


async def realtime(request):
    """GET /v1/realtime: a sideband (call_id) or a WebSocket session (model). Refusals answer before the upgrade,
    as OpenAI's do, so a client sees the status and the JSON error."""
    server = request.app[SERVER]
    if request.query.get("call_id"):
        account = server_key_account(request)
        if account is None:
            return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
        call = server.call_for(request.query["call_id"], account=account)
        if call is None or call.pc is None:
            return openai_error(404, "No such call.", code="not_found", param="call_id")
        ws = websocket_response(request)
        await ws.prepare(request)
        return await websocket_serve(ws, call, own_call=False)
    if "model" not in request.query:
        return openai_error(400, "Give model (a session) or call_id (a sideband).", code="missing_required_parameter",
                            param="model")  # fmt: skip
    account, secret = request_caller(request)
    if account is None:
        return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
    if request.query["model"] != LOCAL_MODEL:
        return openai_error(400, f"The local provider serves only {LOCAL_MODEL!r}.", code="model_not_found",
                            param="model")  # fmt: skip
    if secret is not None and not request.app[USED_SECRETS].claim(secret.id, expires_at=secret.expires_at):
        return openai_error(401, "This client secret has already opened a call.", code="invalid_api_key")
    output = DeltaOutput()
    refused = rate_limited(request, "calls", account, request.app[CONFIG].rate_calls)
    if refused is None:
        try:
            call = server.websocket_call(
                session=secret.session if secret else default_session(),
                account=account,
                secret_id=secret.id if secret else None,
                output=output,
            )
        except CallLimitReached as exc:
            refused = openai_error(429, str(exc), code="rate_limit_exceeded", type_="rate_limit_error")
    if refused is not None:
        if secret is not None:
            request.app[USED_SECRETS].release(secret.id)  # no session was opened
        return refused
    output.send = call.send
    ws = websocket_response(request)
    try:
        await ws.prepare(request)
    except Exception:
        await call.close()
        raise
    return await websocket_serve(ws, call, own_call=True)


# --- the application ------------------------------------------------------------------------------------------


async def _close_calls(app):
    await app[SERVER].close_all()


async def _warm_recogniser(app):
    # Start the speech-recognition worker with the service, not with its first call's handshake.
    recogniser.warm()


def make_app(config):
    app = web.Application(middlewares=[cors], client_max_size=MAX_BODY_BYTES)
    app[CONFIG] = config
    app[SERVER] = LocalRealtimeServer(config)
    app[RATES] = FixedWindowLimiter()
    app[USED_SECRETS] = SecretLedger()
    app.on_startup.append(_warm_recogniser)
    app.on_shutdown.append(_close_calls)
    app.router.add_post("/v1/realtime/client_secrets", client_secrets)
    app.router.add_post("/v1/realtime/calls", calls)
    app.router.add_post("/v1/realtime/calls/{call_id}/hangup", hangup)
    for action in ("accept", "reject", "refer"):
        app.router.add_post(f"/v1/realtime/calls/{{call_id}}/{action}", not_emulated)
    app.router.add_get("/v1/realtime", realtime)
    app.router.add_post("/v1/audio/speech", audio_speech)
    app.router.add_get("/healthz", healthz)
    return app
