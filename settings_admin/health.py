from .models import SpeechSettings
from .registry import ProviderNotFound
from .secrets import CredentialStatus, tenant_credential_status


def tenant_credential_statuses(queryset=None):
    """(speech_settings, CredentialStatus) for each tenant in the queryset (default: the active ones)."""
    queryset = queryset if queryset is not None else SpeechSettings.objects.filter(tenant__is_active=True)
    for speech_settings in queryset.select_related("tenant").order_by("tenant__slug"):
        try:
            yield speech_settings, tenant_credential_status(speech_settings=speech_settings)
        except ProviderNotFound:
            yield speech_settings, CredentialStatus("unknown provider", speech_settings.provider)
