import json

import pytest

from settings_admin.models import SettingsChange, SpeechSettings, Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(admin_client, speech_settings):
    return admin_client


def change_form_data(speech_settings, **overrides):
    """The change form as a browser posts it (see form_prefixed for the tenant page's inline)."""
    data = {
        "provider": speech_settings.provider,
        "model": speech_settings.model,
        "voice": speech_settings.voice,
        "endpoint": speech_settings.endpoint,
        "instructions": "",
        "turn_detection": "server_vad",
        "input_transcription_model": "gpt-4o-mini-transcribe",
        "secret_ttl_seconds": "600",
        "webrtc_mode": "direct",
        "credential_ref": "",
    }
    # Options are posted through their generated fields (options__<provider>__<name>), as the page shows them.
    for name, value in (speech_settings.options or {}).items():
        data[f"options__{speech_settings.provider}__{name}"] = str(value).lower() if isinstance(value, bool) else value
    data.update(overrides)
    return data


def form_prefixed(data, prefix):
    """Form data as an inline named `prefix` posts it."""
    return {(f"initial-{prefix}-{key[8:]}" if key.startswith("initial-") else f"{prefix}-{key}"): value
            for key, value in data.items()}  # fmt: skip


def change_url(speech_settings):
    return f"/admin/settings_admin/speechsettings/{speech_settings.pk}/change/"


def test_list_filter_and_search(staff_client):
    page = staff_client.get("/admin/settings_admin/speechsettings/?provider=openai_realtime&q=default")
    assert page.status_code == 200
    assert "Default" in page.content.decode()
    assert staff_client.get("/admin/settings_admin/tenant/?q=default").status_code == 200


def test_the_provider_choices_come_from_the_registry(staff_client, speech_settings):
    page = staff_client.get(change_url(speech_settings)).content.decode()
    assert '<option value="openai_realtime" selected>OpenAI Realtime</option>' in page
    assert '<option value="local">Local echo (offline)</option>' in page


def voice_choices(response, name="voice"):
    return [value for value, _label in response.context["adminform"].form.fields[name].widget.choices]


def test_the_voice_lists_offer_the_chosen_providers_catalog_only(staff_client, speech_settings):
    from speech.providers.openai_realtime import OPENAI_VOICES

    response = staff_client.get(change_url(speech_settings))
    page = response.content.decode()
    assert voice_choices(response) == list(OPENAI_VOICES)  # ten, not each provider's ten again
    assert voice_choices(response, "allowed_voices") == list(OPENAI_VOICES)
    assert "optgroup" not in page
    # The model box suggests this provider's models only; the catalog for a switch in the page is a JSON block.
    assert '<option value="gpt-realtime-2">' in page and '<option value="local-echo">' not in page
    catalog = json.loads(
        page.split('<script id="speech-provider-catalog" type="application/json">')[1].split("</script>")[0]
    )
    assert catalog["local"]["models"] == ["local-echo"] and catalog["azure_openai"]["models"] == []
    assert 'src="/static/settings_admin/speech-settings.js"' in page


def test_options_are_fields_of_their_own_with_their_help(staff_client, speech_settings):
    page = staff_client.get(change_url(speech_settings)).content.decode()
    assert 'name="options__openai_realtime__speed"' in page
    assert 'name="options__azure_openai__region"' in page and "preview: e.g. eastus2." in page
    assert '<textarea name="options"' not in page


def test_an_option_saves_through_its_field(staff_client, speech_settings):
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(speech_settings, options__openai_realtime__speed="1.25",
                         options__openai_realtime__noise_reduction="far_field"),
    )  # fmt: skip
    assert response.status_code == 302, response.context["errors"] if response.context else response
    speech_settings.refresh_from_db()
    assert speech_settings.options == {"speed": 1.25, "noise_reduction": "far_field"}
    # Set back to the default, an option is left out again.
    staff_client.post(
        change_url(speech_settings), {**change_form_data(speech_settings), "options__openai_realtime__speed": ""}
    )
    speech_settings.refresh_from_db()
    assert speech_settings.options == {"noise_reduction": "far_field"}


def test_an_options_message_stands_on_its_own_field(staff_client, speech_settings):
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(speech_settings, provider="azure_openai", model="contoso",
                         options__azure_openai__interface="preview",
                         endpoint="https://contoso.openai.azure.com/openai/realtimeapi/sessions"),
    )  # fmt: skip
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["options__azure_openai__region"] == ["The preview interface needs the resource's region."]
    assert "options" not in form.errors
    out_of_range = staff_client.post(
        change_url(speech_settings), change_form_data(speech_settings, options__openai_realtime__speed="9")
    )
    assert "options__openai_realtime__speed" in out_of_range.context["adminform"].form.errors
    speech_settings.refresh_from_db()
    assert speech_settings.options == {}


def test_saving_valid_settings(staff_client, speech_settings):
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(speech_settings, voice="marin", allowed_voices=["marin", "verse"]),
    )
    assert response.status_code == 302
    speech_settings.refresh_from_db()
    assert speech_settings.voice == "marin"
    assert speech_settings.allowed_voices == ["marin", "verse"]


def test_a_model_of_another_provider_is_a_field_error(staff_client, speech_settings):
    response = staff_client.post(change_url(speech_settings), change_form_data(speech_settings, model="local-echo"))
    assert response.status_code == 200
    assert "is not a model of OpenAI Realtime" in response.content.decode()
    speech_settings.refresh_from_db()
    assert speech_settings.model == "gpt-realtime"


def test_a_plain_http_endpoint_is_a_field_error(staff_client, speech_settings):
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(speech_settings, endpoint="http://api.openai.com/v1/realtime/client_secrets"),
    )
    assert response.status_code == 200
    assert "must use https://" in response.content.decode()


def test_the_seeds_retired_values_save_with_a_warning(staff_client, speech_settings):
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(
            speech_settings,
            model="gpt-4o-realtime-preview",
            endpoint="https://api.openai.com/v1/realtime/sessions",
        ),
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("retired" in m for m in messages)
    assert any("deprecated preview model" in m for m in messages)
    speech_settings.refresh_from_db()
    assert speech_settings.model == "gpt-4o-realtime-preview"


def test_creating_a_tenant_with_hostnames_and_settings(staff_client):
    data = {
        "slug": "acme",
        "name": "Acme",
        "is_active": "on",
        "hostnames-TOTAL_FORMS": "1",
        "hostnames-INITIAL_FORMS": "0",
        "hostnames-0-hostname": "Voice.Acme.Example",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "allowed_origins": '["https://App.Acme.Example/"]',
        "rate_limit_user": "10/m",
        "rate_limit_api_key": "100/m",
        "rate_limit_anonymous": "",
        "rate_limit_tenant": "1000/h",
        "speech_settings-TOTAL_FORMS": "1",
        "speech_settings-INITIAL_FORMS": "0",
        "speech_settings-MIN_NUM_FORMS": "1",
        "speech_settings-MAX_NUM_FORMS": "1",
        **form_prefixed(change_form_data(SpeechSettings(), voice="coral"), "speech_settings-0"),
    }
    response = staff_client.post("/admin/settings_admin/tenant/add/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.speech_settings.voice == "coral"
    assert list(tenant.hostnames.values_list("hostname", flat=True)) == ["voice.acme.example"]
    assert tenant.allowed_origins == ["https://app.acme.example"]
    assert (tenant.rate_limit_user, tenant.rate_limit_anonymous) == ("10/m", "")


def tenant_change_data(tenant, **settings_overrides):
    """The tenant's change page as a browser posts it, its speech settings inline included."""
    speech_settings = tenant.speech_settings
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "is_active": "on",
        "allowed_origins": "[]",
        "rate_limit_user": tenant.rate_limit_user,
        "rate_limit_api_key": tenant.rate_limit_api_key,
        "rate_limit_anonymous": tenant.rate_limit_anonymous,
        "rate_limit_tenant": tenant.rate_limit_tenant,
        "hostnames-TOTAL_FORMS": "0",
        "hostnames-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "speech_settings-TOTAL_FORMS": "1",
        "speech_settings-INITIAL_FORMS": "1",
        "speech_settings-MIN_NUM_FORMS": "1",
        "speech_settings-MAX_NUM_FORMS": "1",
        "speech_settings-0-tenant": str(tenant.pk),
        **form_prefixed(change_form_data(speech_settings, **settings_overrides), "speech_settings-0"),
    }


def test_a_provider_switch_in_admin_brings_the_new_providers_defaults_and_is_recorded(
    staff_client, speech_settings, admin_user
):
    speech_settings.voice, speech_settings.allowed_voices, speech_settings.options = "marin", ["marin"], {"speed": 1.2}
    speech_settings.save()
    # The browser posts the whole form: only the provider differs from the saved row.
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(speech_settings, provider="local", allowed_voices=["marin"]),
    )
    assert response.status_code == 302, response.context["errors"] if response.context else response
    speech_settings.refresh_from_db()
    assert (speech_settings.provider, speech_settings.model, speech_settings.voice) == ("local", "local-echo", "verse")
    assert (speech_settings.allowed_voices, speech_settings.options) == ([], {})
    change = SettingsChange.objects.get()
    assert change.user == admin_user
    assert change.changes == {
        "provider": ["openai_realtime", "local"],
        "model": ["gpt-realtime", "local-echo"],
        "voice": ["marin", "verse"],
        "allowed_voices": [["marin"], []],
        "options": [{"speed": 1.2}, {}],
    }


def test_what_admin_changed_is_recorded_and_nothing_else(staff_client, speech_settings, admin_user):
    response = staff_client.post(change_url(speech_settings), change_form_data(speech_settings, voice="marin"))
    assert response.status_code == 302
    change = SettingsChange.objects.get()
    assert (change.user, change.changes) == (admin_user, {"voice": ["verse", "marin"]})


def test_webrtc_mode_is_editable_in_admin(staff_client, speech_settings):
    assert 'name="webrtc_mode"' in staff_client.get(change_url(speech_settings)).content.decode()
    response = staff_client.post(change_url(speech_settings), change_form_data(speech_settings, webrtc_mode="unified"))
    assert response.status_code == 302
    speech_settings.refresh_from_db()
    assert speech_settings.webrtc_mode == "unified"


def test_the_tenant_pages_inline_saves_through_the_same_service(staff_client, speech_settings, admin_user):
    tenant = speech_settings.tenant
    response = staff_client.post(
        f"/admin/settings_admin/tenant/{tenant.pk}/change/", tenant_change_data(tenant, provider="local")
    )
    assert response.status_code == 302, response.context["errors"] if response.context else response
    speech_settings.refresh_from_db()
    assert (speech_settings.provider, speech_settings.model) == ("local", "local-echo")
    change = SettingsChange.objects.get()
    assert change.user == admin_user
    assert change.changes["provider"] == ["openai_realtime", "local"]


def test_a_new_tenant_on_another_provider_gets_its_defaults_and_a_record(staff_client, admin_user):
    page = staff_client.get("/admin/settings_admin/tenant/add/").content.decode()
    assert 'name="speech_settings-0-model" value="gpt-realtime"' in page  # the form starts from the defaults
    data = {
        "slug": "acme", "name": "Acme", "is_active": "on", "allowed_origins": "[]",
        "rate_limit_user": "", "rate_limit_api_key": "", "rate_limit_anonymous": "", "rate_limit_tenant": "",
        "hostnames-TOTAL_FORMS": "0", "hostnames-INITIAL_FORMS": "0",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
        "speech_settings-TOTAL_FORMS": "1", "speech_settings-INITIAL_FORMS": "0",
        "speech_settings-MIN_NUM_FORMS": "1", "speech_settings-MAX_NUM_FORMS": "1",
        **form_prefixed(change_form_data(SpeechSettings(), provider="local"), "speech_settings-0"),
    }  # fmt: skip
    response = staff_client.post("/admin/settings_admin/tenant/add/", data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    speech_settings = Tenant.objects.get(slug="acme").speech_settings
    assert (speech_settings.provider, speech_settings.model) == ("local", "local-echo")
    change = SettingsChange.objects.get(tenant__slug="acme")
    assert (change.user, change.changes["model"]) == (admin_user, ["gpt-realtime", "local-echo"])


def test_the_admin_never_offers_a_way_to_add_orphan_settings(staff_client):
    assert staff_client.get("/admin/settings_admin/speechsettings/add/").status_code == 403


def test_an_azure_tenant_takes_a_deployment_name_and_warns_about_the_preview(staff_client, speech_settings):
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(
            speech_settings,
            provider="azure_openai",
            model="contoso-realtime",
            endpoint="https://contoso.openai.azure.com/openai/realtimeapi/sessions",
            options__azure_openai__interface="preview",
            options__azure_openai__region="eastus2",
            allowed_models="contoso-realtime, contoso-mini",
        ),
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("preview interface is deprecated" in m for m in messages), response.content.decode()[-3000:]
    speech_settings.refresh_from_db()
    assert (speech_settings.provider, speech_settings.model) == ("azure_openai", "contoso-realtime")
    assert speech_settings.allowed_models == ["contoso-realtime", "contoso-mini"]


def test_the_openai_beta_interface_is_an_explicit_deprecated_option(staff_client, speech_settings, settings):
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["compatible.example"]
    response = staff_client.post(
        change_url(speech_settings),
        change_form_data(
            speech_settings,
            endpoint="https://compatible.example/v1/realtime/sessions",
            options__openai_realtime__interface="beta",
        ),
        follow=True,
    )
    assert any("retired by OpenAI" in str(m) for m in response.context["messages"])


def test_the_model_box_suggests_the_known_models(staff_client, speech_settings):
    page = staff_client.get(change_url(speech_settings)).content.decode()
    assert '<datalist id="id_model-suggestions">' in page
    assert '<option value="gpt-realtime-2">' in page


def test_the_admin_offers_only_the_tenants_api_keys(staff_client):
    index = staff_client.get("/admin/").content.decode()
    assert index.count(">API keys</a>") == 1
    assert 'href="/admin/settings_admin/tenantapikey/"' in index
    # The library's own, tenant-less keys (which the API refuses) can no longer be made.
    assert staff_client.get("/admin/rest_framework_api_key/apikey/add/").status_code == 404
    assert staff_client.get("/admin/settings_admin/tenantapikey/add/").status_code == 200


def test_the_credential_reference_help_shows_its_placeholders_literally(staff_client, speech_settings):
    page = staff_client.get(change_url(speech_settings)).content.decode()
    assert "speech/tenants/&lt;slug&gt;/&lt;name&gt;." in page  # a browser shows <slug>, <name>
    assert "speech/tenants/<slug>" not in page


def test_the_settings_models_and_their_migrations_agree():
    from django.core.management import call_command

    call_command("makemigrations", "settings_admin", "--check", "--dry-run", verbosity=0)
