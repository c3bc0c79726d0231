from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from . import errors
from .ops.csp import csp_update_response
from .tenancy import user_role


@ensure_csrf_cookie
def chat(request):
    try:
        speech_settings = request.speech_settings
        tenant = speech_settings.tenant
    except errors.TenantNotFound as exc:
        raise Http404(exc.message) from None
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
    origins = provider.browser_origins(endpoint=speech_settings.effective_endpoint, options=speech_settings.options)
    return csp_update_response(response, {"connect-src": origins})
