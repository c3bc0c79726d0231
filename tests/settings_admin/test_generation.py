"""The settings generation in the database: bumped once a change commits, read once per request."""

import time

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from settings_admin import generation
from settings_admin.models import SettingsGeneration, SpeechSettings
from settings_admin.selectors import SettingsGenerationMiddleware, speech_settings_for_tenant

pytestmark = pytest.mark.django_db


def another_process_changes_the_voice(tenant, voice):
    """What a commit elsewhere leaves in the database: the row, and the bumped generation (no signal here)."""
    SpeechSettings.objects.filter(tenant=tenant).update(voice=voice)
    SettingsGeneration.objects.update(value=F("value") + 1)


def test_a_bump_adds_one_in_the_database():
    first = generation.generation_current()
    generation.generation_bump()
    assert generation.generation_current() == SettingsGeneration.objects.get().value == first + 1


def test_a_lost_row_starts_again_from_the_clock():
    generation.generation_current()
    SettingsGeneration.objects.all().delete()
    before = time.time_ns()
    assert generation.generation_current() >= before
    SettingsGeneration.objects.all().delete()
    generation.generation_bump()
    assert SettingsGeneration.objects.get().value >= before


def test_a_change_bumps_the_generation_when_it_commits(tenant, django_capture_on_commit_callbacks):
    first = generation.generation_current()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        speech_settings = tenant.speech_settings
        speech_settings.voice = "sage"
        speech_settings.save()
        assert generation.generation_current() == first  # not before the commit
    assert len(callbacks) == 1
    assert generation.generation_current() == first + 1


def test_outside_a_request_each_read_sees_a_change_committed_elsewhere(tenant):
    assert speech_settings_for_tenant(tenant_id=tenant.pk).voice == "verse"
    another_process_changes_the_voice(tenant, "coral")
    assert speech_settings_for_tenant(tenant_id=tenant.pk).voice == "coral"


def test_a_request_reads_the_generation_once(tenant):
    speech_settings_for_tenant(tenant_id=tenant.pk)  # warm

    def view(request):
        speech_settings_for_tenant(tenant_id=tenant.pk)
        return speech_settings_for_tenant(tenant_id=tenant.pk).voice

    with CaptureQueriesContext(connection) as queries:
        assert SettingsGenerationMiddleware(view)(None) == "verse"
    assert len(queries) == 1, "one query: the generation; the rows come from the process's cache"
    assert "settings_admin_settingsgeneration" in queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_change_rolled_back_leaves_nothing_cached(tenant):
    """A thread reads its own uncommitted change past the cache, so a rollback cannot leave it behind."""
    assert speech_settings_for_tenant(tenant_id=tenant.pk).voice == "verse"
    with pytest.raises(RuntimeError), transaction.atomic():
        speech_settings = SpeechSettings.objects.get(tenant=tenant)
        speech_settings.voice = "sage"
        speech_settings.save()
        assert speech_settings_for_tenant(tenant_id=tenant.pk).voice == "sage"
        raise RuntimeError("rolled back")
    assert speech_settings_for_tenant(tenant_id=tenant.pk).voice == "verse"
