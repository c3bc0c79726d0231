import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from settings_admin.models import Tenant

pytestmark = pytest.mark.django_db

migration = importlib.import_module("settings_admin.migrations.0002_default_tenant")


def migration_apps():
    # The migration's code, with the models as they stand now: the database has later columns too.
    return MigrationLoader(connection).project_state().apps


def rerun_migration():
    """Runs the data migration again on a database without the default tenant, with its historical models."""
    historical = migration_apps()
    migration.remove_default_tenant(historical, None)
    assert not Tenant.objects.filter(slug="default").exists()
    migration.create_default_tenant(historical, None)
    return Tenant.objects.get(slug="default").speech_settings


def test_without_a_key_the_default_tenant_uses_the_local_provider(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    speech_settings = rerun_migration()
    assert (speech_settings.provider, speech_settings.model, speech_settings.voice) == ("local", "local-echo", "verse")
    speech_settings.full_clean()


def test_with_a_key_the_default_tenant_uses_openai_ga(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-anything")
    speech_settings = rerun_migration()
    assert (speech_settings.provider, speech_settings.model) == ("openai_realtime", "gpt-realtime")
    speech_settings.full_clean()


def test_running_it_twice_keeps_one_default_tenant(monkeypatch):
    historical = migration_apps()
    migration.create_default_tenant(historical, None)
    assert Tenant.objects.filter(slug="default").count() == 1
