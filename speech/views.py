from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from . import errors
from .tenancy import speech_settings_for_request


@login_required
@ensure_csrf_cookie
def chat(request):
    try:
        speech_settings = speech_settings_for_request(request)
    except errors.TenantNotFound as exc:
        raise Http404(exc.message) from None
    return render(
        request,
        "speech/chat.html",
        {
            "speech_settings": speech_settings,
            "tenant": speech_settings.tenant,
            "negotiation_timeout_ms": settings.SPEECH_NEGOTIATION_TIMEOUT_MS,
            "negotiation_attempts": settings.SPEECH_NEGOTIATION_ATTEMPTS,
        },
    )
