"""The admin's write-only API key field, with a real Vault behind it."""

import json

import pytest

from settings_admin.models import SettingsChange
from tests.settings_admin.test_admin import change_form_data, change_url, tenant_change_data
from tests.vault_server import free_port

pytestmark = pytest.mark.django_db
KEY = "sk-typed-into-admin-4242"


def stored_key(vault, reference):
    try:
        answer = vault.client().secrets.kv.v2.read_secret_version(reference, raise_on_deleted_version=True)
    except Exception:  # hvac.exceptions.InvalidPath
        return None
    return answer["data"]["data"]["api_key"]


def test_saving_a_key_writes_it_to_vault_and_shows_only_its_end(admin_client, speech_settings, vault):
    response = admin_client.post(change_url(speech_settings), change_form_data(speech_settings, api_key=KEY))
    assert response.status_code == 302
    assert stored_key(vault, speech_settings.credential_reference) == KEY

    page = admin_client.get(change_url(speech_settings)).content.decode()
    assert "<strong>Resolves</strong> (…4242), from Vault, secret/" in page
    assert KEY not in page


def test_clearing_removes_the_key(admin_client, speech_settings, vault):
    admin_client.post(change_url(speech_settings), change_form_data(speech_settings, api_key=KEY))
    admin_client.post(change_url(speech_settings), change_form_data(speech_settings, clear_api_key="on"))
    assert stored_key(vault, speech_settings.credential_reference) is None
    assert "<strong>Missing</strong>" in admin_client.get(change_url(speech_settings)).content.decode()


def test_a_vault_that_refuses_the_key_leaves_everything_unsaved(admin_client, speech_settings, vault, settings):
    settings.VAULT_ADDR = f"http://127.0.0.1:{free_port()}"
    settings.VAULT_TIMEOUT = 1
    response = admin_client.post(
        change_url(speech_settings), change_form_data(speech_settings, voice="marin", api_key=KEY)
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The secrets store did not take the change" in page
    assert KEY not in page
    speech_settings.refresh_from_db()
    assert speech_settings.voice == "verse"
    assert not SettingsChange.objects.exists()


def test_a_key_is_not_stored_when_the_rest_of_the_submission_is_refused(admin_client, speech_settings, vault):
    # The settings inline is valid on its own; the tenant's own form is not, so nothing may be saved.
    tenant = speech_settings.tenant
    data = {**tenant_change_data(tenant, api_key=KEY), "rate_limit_user": "lots"}
    response = admin_client.post(f"/admin/settings_admin/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 200
    assert "Give a rate such as 30/m" in response.content.decode()
    assert stored_key(vault, speech_settings.credential_reference) is None


def test_a_key_change_is_recorded_without_the_key(admin_client, speech_settings, vault, admin_user):
    admin_client.post(change_url(speech_settings), change_form_data(speech_settings, api_key=KEY))
    admin_client.post(change_url(speech_settings), change_form_data(speech_settings, clear_api_key="on"))
    changes = list(SettingsChange.objects.order_by("pk").values_list("user", "changes"))
    assert changes == [(admin_user.pk, {"api_key": "stored"}), (admin_user.pk, {"api_key": "removed"})]
    assert KEY not in json.dumps(changes)


def test_a_refused_key_undoes_the_whole_tenant_page(admin_client, speech_settings, vault, settings):
    settings.VAULT_ADDR = f"http://127.0.0.1:{free_port()}"
    settings.VAULT_TIMEOUT = 1
    tenant = speech_settings.tenant
    data = {**tenant_change_data(tenant, voice="marin", api_key=KEY), "name": "Renamed"}
    response = admin_client.post(f"/admin/settings_admin/tenant/{tenant.pk}/change/", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The secrets store did not take the change, so nothing was saved" in page
    assert 'value="Renamed"' in page  # what was typed is shown again, the key aside
    assert KEY not in page
    tenant.refresh_from_db()
    speech_settings.refresh_from_db()
    assert (tenant.name, speech_settings.voice) == ("Default", "verse")
    assert not SettingsChange.objects.exists()


def test_with_environment_credentials_one_block_says_where_the_key_comes_from(admin_client, speech_settings):
    page = admin_client.get(change_url(speech_settings)).content.decode()
    # One help text, once; the key by its end only, and where it resolved from; no field to type a key into.
    assert page.count("Keys come from the server's environment (OPENAI_API_KEY, AZURE_OPENAI_API_KEY)") == 1
    assert "<strong>Resolves</strong> (…cdef), from the environment variable OPENAI_API_KEY." in page
    assert 'name="api_key"' not in page and 'name="clear_api_key"' not in page
    assert page.count(">API key:</label>") == 1
    response = admin_client.post(change_url(speech_settings), change_form_data(speech_settings, api_key=KEY))
    # A posted key is ignored: the read-only store is never asked to write (it would raise).
    assert response.status_code == 302


def test_a_tenant_not_granted_the_shared_key_reads_missing_and_where_it_was_looked_for(admin_client, speech_settings):
    from settings_admin.models import SpeechSettings, Tenant

    other = Tenant.objects.create(slug="acme", name="Acme")
    settings_row = SpeechSettings.objects.create(tenant=other)
    page = admin_client.get(change_url(settings_row)).content.decode()
    assert "<strong>Missing</strong>: the shared key is not granted to this tenant." in page
    assert "Looked for in the environment variable OPENAI_API_KEY." in page


def test_the_local_providers_key_is_derived_for_the_tenant(admin_client, speech_settings):
    speech_settings.provider, speech_settings.model = "local", "local-echo"
    speech_settings.save()
    page = admin_client.get(change_url(speech_settings)).content.decode()
    assert "from a key Local echo (offline) derives for this tenant." in page


def test_with_vault_the_block_offers_the_write_only_field_and_names_the_path(admin_client, speech_settings, vault):
    page = admin_client.get(change_url(speech_settings)).content.decode()
    assert 'name="api_key"' in page and 'type="password"' in page and 'name="clear_api_key"' in page
    assert "A key typed here goes to the secrets store" in page
    assert "Looked for in Vault, secret/" in page and "speech/tenants/default/openai_realtime" in page


def test_secrets_check_reports_each_tenant_without_the_key(speech_settings, vault, capsys, monkeypatch):
    from django.core.management import CommandError, call_command

    from settings_admin.models import SpeechSettings, Tenant

    monkeypatch.delenv("OPENAI_API_KEY")
    other = Tenant.objects.create(slug="acme", name="Acme")
    SpeechSettings.objects.create(tenant=other)
    vault.client().secrets.kv.v2.create_or_update_secret(speech_settings.credential_reference, secret={"api_key": KEY})
    with pytest.raises(CommandError, match="1 of 2 tenants have no usable credential"):
        call_command("secrets_check")
    out = capsys.readouterr().out
    assert "default" in out and "set (…4242)" in out
    assert "acme" in out and "missing" in out
    assert KEY not in out
    call_command("secrets_check", "--tenant", "default")
