import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from settings_admin.models import SpeechSettings, Tenant, TenantHostname
from settings_admin.selectors import speech_settings_for_host

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(tenant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # as if committed: the test's transaction never is
        tenant = Tenant.objects.create(slug="acme", name="Acme")
        TenantHostname.objects.create(tenant=tenant, hostname="voice.acme.example")
        SpeechSettings.objects.create(tenant=tenant, voice="coral")
    return tenant


def test_a_tenants_hostname_selects_it(acme):
    assert speech_settings_for_host(host="voice.acme.example").tenant.id == acme.pk


def test_what_the_selectors_hand_out_cannot_be_changed(acme):
    import dataclasses

    selected = speech_settings_for_host(host="voice.acme.example")
    with pytest.raises(dataclasses.FrozenInstanceError):
        selected.voice = "ash"
    with pytest.raises(dataclasses.FrozenInstanceError):
        selected.tenant.allow_anonymous_sessions = True
    with pytest.raises(TypeError):
        selected.options["speed"] = 2  # a read-only mapping
    with pytest.raises(AttributeError):
        selected.allowed_voices.append("ash")  # a tuple
    assert speech_settings_for_host(host="voice.acme.example").voice == "coral"


def test_read_models_keep_the_models_rules(acme):
    selected = speech_settings_for_host(host="voice.acme.example")
    model = acme.speech_settings
    assert selected.effective_endpoint == model.effective_endpoint
    assert selected.credential_reference == model.credential_reference == "speech/tenants/acme/openai_realtime"
    assert list(selected.effective_allowed_models) == model.effective_allowed_models
    assert list(selected.effective_allowed_voices) == model.effective_allowed_voices
    assert selected.tenant.may_use_shared_credentials is acme.may_use_shared_credentials is False


def test_other_hosts_get_the_default_tenant(acme):
    assert speech_settings_for_host(host="localhost").tenant.slug == "default"


def test_an_inactive_tenant_serves_no_one(acme):
    acme.is_active = False
    acme.save()
    assert speech_settings_for_host(host="voice.acme.example") is None  # not the default tenant either
    Tenant.objects.filter(slug="default").update(is_active=False)
    from settings_admin.selectors import settings_cache_invalidate

    settings_cache_invalidate()
    assert speech_settings_for_host(host="localhost") is None


def test_the_lookup_is_cached_and_a_change_is_seen_at_once(acme):
    speech_settings_for_host(host="voice.acme.example")
    with CaptureQueriesContext(connection) as queries:
        assert speech_settings_for_host(host="voice.acme.example").voice == "coral"
    # Outside a request only the generation is read, to learn of changes made elsewhere.
    assert [query["sql"] for query in queries if "settingsgeneration" not in query["sql"]] == []

    acme.speech_settings.voice = "sage"
    acme.speech_settings.save()
    assert speech_settings_for_host(host="voice.acme.example").voice == "sage"
