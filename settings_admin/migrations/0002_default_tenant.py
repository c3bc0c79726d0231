"""Creates the default tenant.

On a machine with no OPENAI_API_KEY it uses the built-in local provider, so a fresh
install has a working voice loop; with a key, OpenAI's GA interface.
"""

import os

from django.db import migrations

DEFAULT_SLUG = "default"


def default_provider_settings():
    if os.environ.get("OPENAI_API_KEY"):
        return {"provider": "openai_realtime", "model": "gpt-realtime", "voice": "verse"}
    return {"provider": "local", "model": "local-echo", "voice": "verse"}


def create_default_tenant(apps, schema_editor):
    Tenant = apps.get_model("settings_admin", "Tenant")
    SpeechSettings = apps.get_model("settings_admin", "SpeechSettings")
    tenant, created = Tenant.objects.get_or_create(slug=DEFAULT_SLUG, defaults={"name": "Default"})
    if created:
        SpeechSettings.objects.create(tenant=tenant, **default_provider_settings())


def remove_default_tenant(apps, schema_editor):
    apps.get_model("settings_admin", "Tenant").objects.filter(slug=DEFAULT_SLUG).delete()


class Migration(migrations.Migration):
    dependencies = [("settings_admin", "0001_initial")]
    operations = [migrations.RunPython(create_default_tenant, remove_default_tenant)]
