from django.db.models.signals import post_delete, post_save

from .models import CallPolicy
from .services import call_gate_forget


def _forget(instance, **kwargs):
    call_gate_forget(instance.tenant_id)


post_save.connect(_forget, sender=CallPolicy, dispatch_uid="call-policy-saved")
post_delete.connect(_forget, sender=CallPolicy, dispatch_uid="call-policy-deleted")
