from django.http.request import split_domain_port

from settings_admin.selectors import speech_settings_for_host

from . import errors


def speech_settings_for_request(request):
    """The SpeechSettings of the tenant this request belongs to (by host, else the default tenant)."""
    host, _port = split_domain_port(request.get_host())
    speech_settings = speech_settings_for_host(host=host)
    if speech_settings is None:
        raise errors.TenantNotFound()
    return speech_settings
