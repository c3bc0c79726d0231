from .models import SpeechSettings
from .registry import ProviderNotFound
from .secrets import CredentialStatus, credential_status


def tenant_credential_statuses(queryset=None):
    """(speech_settings, CredentialStatus) for each tenant in the queryset (default: the active ones)."""
    queryset = queryset if queryset is not None else SpeechSettings.objects.filter(tenant__is_active=True)
    for speech_settings in queryset.select_related("tenant").order_by("tenant__slug"):
        try:
            provider = speech_settings.get_provider()
        except ProviderNotFound:
            yield speech_settings, CredentialStatus("unknown provider", speech_settings.provider)
            continue
        yield speech_settings, credential_status(reference=speech_settings.credential_reference, provider=provider)
