from django.db.models.signals import post_delete, post_save

from settings_admin.selectors import settings_cache_invalidate

from .models import McpServer, Tool


def _changed(**kwargs):
    settings_cache_invalidate()  # minting and the supervisor read tools under the settings generation


for model in (Tool, McpServer):
    post_save.connect(_changed, sender=model, dispatch_uid=f"{model.__name__}-saved")
    post_delete.connect(_changed, sender=model, dispatch_uid=f"{model.__name__}-deleted")
