import html
import sys

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.csrf import ensure_csrf_cookie

from . import errors
from .request_id import request_id_var
from .tenancy import speech_settings_for_request, user_role


@ensure_csrf_cookie
def chat(request):
    try:
        speech_settings = speech_settings_for_request(request)
    except errors.TenantNotFound as exc:
        raise Http404(exc.message) from None
    tenant = speech_settings.tenant
    role = user_role(request.user, tenant)
    if role is None and not tenant.allow_anonymous_sessions:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(request, "speech/not_a_member.html", {"tenant": tenant}, status=403)
    provider = speech_settings.get_provider()
    response = render(
        request,
        "speech/chat.html",
        {
            "speech_settings": speech_settings,
            "tenant": tenant,
            "negotiation_timeout_ms": settings.SPEECH_NEGOTIATION_TIMEOUT_MS,
            "negotiation_attempts": settings.SPEECH_NEGOTIATION_ATTEMPTS,
        },
    )
    # The page may talk to this gateway and to the tenant's provider, nowhere else.
    response._csp_update = {
        "connect-src": provider.browser_origins(
            endpoint=speech_settings.effective_endpoint, options=speech_settings.options
        )
    }
    return response


def docs_csp(view):
    """The API reference page (Swagger UI) starts with an inline script: allow that, on that page only."""

    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response._csp_update = {"script-src": ["'unsafe-inline'"], "style-src": ["'unsafe-inline'"]}
        return response

    return wrapped


def _error_json(error, **extra):
    body = {"error": {"code": error.code, "message": error.message, **extra}}
    return JsonResponse(body, status=error.status)


def server_error(request):
    """handler500: an exception no view answered, raised anywhere (middleware and authentication too).
    A fault of the database or the secrets backend gets its own code and 503; anything else on an API
    path is internal_error with the request id, which the logged traceback carries too."""
    # Django calls this while handling the exception, so it is still the one being handled.
    exc = sys.exc_info()[1]
    fault = errors.fault_error(exc) or (exc if isinstance(exc, errors.SpeechError) else None)
    if errors.API_PATHS.match(request.path_info):
        if fault is not None:
            return _error_json(fault)
        return _error_json(errors.InternalError(), request_id=request_id_var.get())
    if fault is not None:
        return HttpResponse(
            f"<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
            f"<p>{html.escape(fault.message)}</p>",
            status=fault.status,
        )
    return defaults.server_error(request)


def page_not_found(request, exception):
    """handler404: JSON on API paths, Django's page elsewhere."""
    if errors.API_PATHS.match(request.path_info):
        return _error_json(errors.PathNotFound())
    return defaults.page_not_found(request, exception)
