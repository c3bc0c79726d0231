"""Every failure the gateway reports, each with a stable code and HTTP status.

Answers have the shape {"error": {"code": ..., "message": ...}}.
"""

import logging
import re

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from settings_admin.secrets import SecretsAuthError, SecretsError

logger = logging.getLogger(__name__)
# Paths whose answers are JSON for programs, errors included; other paths are pages for people.
API_PATHS = re.compile(r"^/(api/|realtime_session$)")


class SpeechError(Exception):
    status = status.HTTP_500_INTERNAL_SERVER_ERROR
    code = "error"
    message = "The request failed."

    def __init__(self, message=None, *, retry_after=None):
        self.message = message or self.message
        self.retry_after = retry_after
        super().__init__(self.message)


class TenantNotFound(SpeechError):
    status, code = 404, "tenant_not_found"
    message = "No tenant serves this host."


class ApiKeyWrongTenant(SpeechError):
    status, code = 403, "api_key_wrong_tenant"
    message = "This API key belongs to another tenant than the one this host serves."


class NotAMember(SpeechError):
    status, code = 403, "not_a_member"
    message = "You are not a member of this tenant."


class ApiKeyScope(SpeechError):
    status, code = 403, "api_key_scope"
    message = "This API key's scope does not allow this."


class RequestTooLarge(SpeechError):
    status, code = 413, "request_too_large"
    message = "The request body is too large."


class UnifiedModeOff(SpeechError):
    status, code = 409, "unified_mode_off"
    message = "This tenant does not relay offers: mint a session at /api/v1/realtime_session instead."


class ModelNotAllowed(SpeechError):
    status, code = 400, "model_not_allowed"
    message = "This model is not allowed for this tenant."


class VoiceNotAllowed(SpeechError):
    status, code = 400, "voice_not_allowed"
    message = "This voice is not allowed for this tenant."


class EndpointNotAllowed(SpeechError):
    status, code = 400, "endpoint_not_allowed"
    message = "Sessions are minted only at the tenant's configured endpoint."


class PreviewUnavailable(SpeechError):
    status, code = 409, "preview_unavailable"
    message = "This provider cannot play a voice sample with the tenant's settings."


class CredentialsMissing(SpeechError):
    status, code = 503, "credentials_missing"
    message = "No provider credential is configured for this tenant. An administrator must set one."


class SecretsUnavailable(SpeechError):
    status, code = 503, "secrets_unavailable"
    message = "The secrets store cannot be reached. Try again shortly."


class SecretsAuthFailed(SpeechError):
    status, code = 503, "secrets_auth_failed"
    message = "The secrets store refused the gateway's credentials. An administrator must check them."


class ProviderAuthFailed(SpeechError):
    status, code = 502, "provider_auth_failed"
    message = "The provider refused the server's credential. An administrator must check the key."


class ProviderRateLimited(SpeechError):
    status, code = 503, "provider_rate_limited"
    message = "The provider is rate limiting this tenant. Try again shortly."


class ProviderTimeout(SpeechError):
    status, code = 504, "provider_timeout"
    message = "The provider did not answer in time."


class ProviderUnavailable(SpeechError):
    status, code = 502, "provider_unavailable"
    message = "The provider cannot be reached or failed."


class ProviderRejected(SpeechError):
    status, code = 502, "provider_rejected"
    message = "The provider refused the session request."


class ProviderBadResponse(SpeechError):
    status, code = 502, "provider_bad_response"
    message = "The provider answered in a shape the gateway does not understand."


class DatabaseUnavailable(SpeechError):
    status, code = 503, "database_unavailable"
    message = "The database cannot be reached. Try again shortly."


class InternalError(SpeechError):
    status, code = 500, "internal_error"
    message = "The gateway failed unexpectedly. Quote the request id when you report it."


class PathNotFound(SpeechError):
    status, code = 404, "not_found"
    message = "No such API path."


class ProviderResponseTooLarge(ProviderBadResponse):
    status, code = 502, "provider_response_too_large"
    message = "The provider's answer was larger than the gateway reads (SPEECH_PROVIDER_MAX_RESPONSE_BYTES)."


class TenantProviderCallsLimited(SpeechError):
    status, code = 429, "provider_calls_limited"
    message = "This tenant has too many provider requests in flight on this server. Try again shortly."


class ServerBusy(SpeechError):
    status, code = 503, "server_busy"
    message = "This server has too many provider requests in flight. Try again shortly."


class BudgetExceeded(SpeechError):
    # 402, not 429: waiting does not help (until the month turns or an admin raises the budget), and
    # clients retry a 429 on their own.
    status, code = 402, "budget_exceeded"
    message = "This tenant's monthly call budget is spent. An administrator can raise it."


class CallRefInvalid(SpeechError):
    status, code = 400, "call_ref_invalid"
    message = "The call reference is not one the gateway signed, was altered, or is too old."


class CallRefForbidden(SpeechError):
    status, code = 403, "call_ref_forbidden"
    message = "The call reference was minted for another tenant or another caller."


class CallIdInvalid(SpeechError):
    status, code = 400, "call_id_invalid"
    message = "The call id is not of the provider's format."


class CallNotFound(SpeechError):
    status, code = 404, "call_not_found"
    message = "No such call in this tenant."


class CallAlreadyReported(SpeechError):
    status, code = 409, "call_already_reported"
    message = "This call's provider call id is already known, or that call id belongs to another call."



# --- tools (speech/tools): a problem with one field names it in `field`, for admin forms ----------------


class ToolError(SpeechError):
    status, code = 400, "tool_invalid"
    message = "The tool definition is not valid."
    field = None

    def __init__(self, message=None, *, field=None, **kwargs):
        super().__init__(message, **kwargs)
        self.field = field or self.field


class ToolNotFound(SpeechError):
    status, code = 404, "tool_not_found"
    message = "No such tool in this tenant."


class McpServerNotFound(SpeechError):
    status, code = 404, "mcp_server_not_found"
    message = "No such MCP server in this tenant."


class ToolUrlForbidden(ToolError):
    status, code = 400, "tool_url_forbidden"
    message = "The URL is not https:// on a host the operator allows (SPEECH_TOOL_ALLOWED_HOSTS)."
    field = "url"


class ToolSchemaInvalid(ToolError):
    status, code = 400, "tool_schema_invalid"
    message = 'The parameters are not a valid JSON Schema of "type": "object".'
    field = "parameters"


class ToolSchemaTooLarge(ToolError):
    status, code = 400, "tool_schema_too_large"
    message = "The parameters schema is too large or nests too deeply."
    field = "parameters"


class ToolNameInvalid(ToolError):
    status, code = 400, "tool_name_invalid"
    message = "A tool name (or server label) holds letters, digits, _ and - only, 1 to 64 characters."
    field = "name"


class ToolNameReserved(ToolError):
    status, code = 400, "tool_name_reserved"
    message = "This name belongs to a built-in tool: choose the built-in kind, or another name."
    field = "name"


class ToolNameTaken(ToolError):
    status, code = 409, "tool_name_taken"
    message = "The tenant already has a tool (or MCP server) of this name."
    field = "name"


class BuiltinUnknown(ToolError):
    status, code = 400, "builtin_unknown"
    message = "No built-in tool of this name is registered (SPEECH_TOOLS)."
    field = "builtin"


class ToolsLimitReached(ToolError):
    status, code = 409, "tools_limit_reached"
    message = "The tenant has as many tools (or MCP servers) as it may."


class McpAuthorizationUnavailable(ToolError):
    status, code = 409, "mcp_authorization_unavailable"
    message = "The secrets backend is read-only: an MCP authorization needs a writable one (Vault)."
    field = "authorization"


class ToolSecretUnavailable(SpeechError):
    status, code = 503, "tool_secret_unavailable"
    message = "The tool's secret could not be read or written in the secrets backend."


# Codes that DRF raises itself, with the status they come with.
FRAMEWORK_CODES = {
    "invalid_request": (400, "A body field is unknown, of the wrong type or out of range; `fields` names them."),
    "parse_error": (400, "The body is not valid JSON."),
    "not_authenticated": (401, "Neither a logged-in user nor an API key."),
    "invalid_api_key": (401, "The API key is unknown, wrong, revoked or expired."),
    "csrf_failed": (403, "A session-cookie request without a valid CSRF token."),
    "permission_denied": (403, "Not allowed."),
    "method_not_allowed": (405, "Wrong HTTP method."),
    "unsupported_media_type": (415, "The body is not application/json."),
    "rate_limited": (429, "A rate limit is reached; Retry-After says when to try again."),
}


def error_codes():
    """Every code the API can answer: {code: (status, description)}."""
    codes = dict(FRAMEWORK_CODES)

    def walk(cls):
        for sub in cls.__subclasses__():
            codes[sub.code] = (sub.status, sub.message)
            walk(sub)

    walk(SpeechError)
    return codes


def error_response(*, code, message, status, headers=None, **extra):
    return Response({"error": {"code": code, "message": message, **extra}}, status=status, headers=headers)


def _messages(detail, prefix=""):
    """DRF's error detail (nested for list items and nested fields) as flat "where: what" strings."""
    if isinstance(detail, dict):
        return [m for key, value in detail.items() for m in _messages(value, f"{prefix}{key}: ")]
    if isinstance(detail, list):
        return [m for item in detail for m in _messages(item, prefix)]
    return [f"{prefix}{detail}"]


def fault_error(exc):
    """The named error for a fault of a part the gateway depends on (database, secrets backend), or None."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("database unavailable: %s", " ".join(str(exc).split()))
        return DatabaseUnavailable()
    if isinstance(exc, SecretsAuthError):
        logger.error("secrets backend refused the gateway: %s", exc)
        return SecretsAuthFailed()
    if isinstance(exc, SecretsError):
        logger.error("secrets backend unavailable: %s", exc)
        return SecretsUnavailable()
    return None


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: our errors and DRF's own in one shape. Anything else goes on to Django's
    handler500 (speech.ops.error_pages.server_error), which logs it and answers internal_error."""
    exc = fault_error(exc) or exc
    if isinstance(exc, SpeechError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error_response(code=exc.code, message=exc.message, status=exc.status, headers=headers)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.Throttled):
        return error_response(
            code="rate_limited",
            message="Too many sessions; try again later.",
            status=429,
            headers={"Retry-After": str(max(1, int(exc.wait or 1)))},
        )
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            code="invalid_request",
            message="The request body is not valid.",
            status=400,
            fields={field: _messages(detail) for field, detail in exc.detail.items()}
            if isinstance(exc.detail, dict)
            else {"non_field_errors": _messages(exc.detail)},
        )
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    response.data = {"error": {"code": code if isinstance(code, str) else "error", "message": str(exc.detail)}}
    return response
