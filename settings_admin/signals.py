from django.db.models.signals import post_delete, post_save

from .models import Membership, SpeechSettings, Tenant, TenantAPIKey, TenantHostname, UserPreference
from .selectors import settings_cache_invalidate


def _invalidate(**kwargs):
    settings_cache_invalidate()  # bumps the generation once the change commits


for _model in (Tenant, TenantHostname, SpeechSettings, Membership, TenantAPIKey, UserPreference):
    post_save.connect(_invalidate, sender=_model, dispatch_uid=f"invalidate-save-{_model.__name__}")
    post_delete.connect(_invalidate, sender=_model, dispatch_uid=f"invalidate-delete-{_model.__name__}")
