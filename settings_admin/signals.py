from django.db.models.signals import post_delete, post_save

from .models import Membership, SpeechSettings, Tenant, TenantAPIKey, TenantHostname
from .selectors import settings_cache_invalidate


def _invalidate(**kwargs):
    settings_cache_invalidate()  # bumps the generation once the change commits


# A user's preferences are read afresh per session (selectors.user_preference_get): saving one must not make
# every tenant's next request miss the cache.
for _model in (Tenant, TenantHostname, SpeechSettings, Membership, TenantAPIKey):
    post_save.connect(_invalidate, sender=_model, dispatch_uid=f"invalidate-save-{_model.__name__}")
    post_delete.connect(_invalidate, sender=_model, dispatch_uid=f"invalidate-delete-{_model.__name__}")
