"""Django admin's speech settings in a real Chromium, as a tenant admin: the provider's catalog follows a switch
in the page, a voice is heard before it is chosen, and an option saved through its field reaches the next session."""

import pytest
from django.contrib.auth.models import Permission

from settings_admin.models import Membership, Role, SpeechSettings, Tenant
from settings_admin.registry import registry
from tests.e2e.conftest import ARTIFACTS, PASSWORD

SETTINGS_PERMISSIONS = ["view_speechsettings", "change_speechsettings", "view_tenant", "change_tenant"]


@pytest.fixture
def tenant_admin(served, django_user_model):
    """Ada: staff (admin-site access) holding the settings permissions, an admin of the default tenant; no superuser."""
    ada = django_user_model.objects.create_user(username="ada", password=PASSWORD, is_staff=True)
    ada.user_permissions.set(Permission.objects.filter(codename__in=SETTINGS_PERMISSIONS))
    Membership.objects.create(user=ada, tenant=Tenant.objects.get(slug="default"), role=Role.ADMIN)
    return ada


@pytest.fixture
def admin_page(browser, served, tenant_admin):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(f"{served.url}/admin/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    yield page
    context.close()
    assert not errors, errors  # a Content-Security-Policy refusal or a script error shows here


def options_of(page, selector):
    return page.eval_on_selector_all(f"{selector} option", "options => options.map(o => o.value)")


# What the playing audio element sounds like, through a Web Audio analyser: the loudest sample (full scale 1)
# over a second of playback, and the element's duration.
PLAYED_PEAK = """async (audio) => {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaElementSource(audio).connect(analyser);
  analyser.connect(context.destination);
  const samples = new Float32Array(analyser.fftSize);
  let peak = 0;
  const until = performance.now() + 1000;
  while (performance.now() < until && !audio.ended) {
    analyser.getFloatTimeDomainData(samples);
    for (const sample of samples) peak = Math.max(peak, Math.abs(sample));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return [peak, audio.duration];
}"""


def test_a_tenant_admin_switches_provider_hears_a_voice_and_saves_an_option_the_next_session_carries(
    admin_page, served, open_chat
):
    page = admin_page
    tenant = Tenant.objects.get(slug="default")
    page.goto(f"{served.url}/admin/settings_admin/speechsettings/{tenant.pk}/change/")
    page.wait_for_selector("#id_provider")
    local, openai, azure = (registry.get(p) for p in ("local", "openai_realtime", "azure_openai"))

    # As the page comes: the local provider's catalog and options only.
    assert options_of(page, "#id_voice") == list(local.voices)
    assert options_of(page, "#id_model-suggestions") == ["local-echo"]
    assert page.is_visible("#id_options__local__speed")
    assert not page.is_visible("#id_options__openai_realtime__speed")

    # Switched to OpenAI in the page, without a save: its models, voices and options.
    page.select_option("#id_provider", "openai_realtime")
    assert options_of(page, "#id_model-suggestions") == list(openai.models)
    assert page.input_value("#id_model") == openai.default_model
    assert options_of(page, "#id_voice") == list(openai.voices)
    assert options_of(page, "#id_allowed_voices") == list(openai.voices)
    assert page.is_visible("#id_options__openai_realtime__noise_reduction")
    assert not page.is_visible("#id_options__local__speed")
    # Azure: deployments are the owner's to name, so no model is suggested; its options show.
    page.select_option("#id_provider", "azure_openai")
    assert options_of(page, "#id_model-suggestions") == [] and page.input_value("#id_model") == ""
    assert options_of(page, "#id_voice") == list(azure.voices)
    assert page.is_visible("#id_options__azure_openai__preview_deployment")
    page.select_option("#id_provider", "local")
    assert page.input_value("#id_model") == "local-echo"

    # Hear a voice before choosing it: a sample from the local provider (espeak-ng), played in the page.
    page.select_option("#id_voice", "cedar")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/tenants/default/voice_preview")) as previewed:
        page.click(".speech-preview")
    answer = previewed.value
    assert answer.status == 200 and answer.headers["content-type"] == "audio/wav"
    page.wait_for_selector(".speech-preview-audio[data-state=playing]", state="attached", timeout=10000)
    assert page.eval_on_selector(".speech-preview-audio", "audio => !audio.paused")
    # What the audio element plays, heard through Web Audio: speech, not silence.
    peak, seconds = page.eval_on_selector(".speech-preview-audio", PLAYED_PEAK)
    assert peak > 0.05 and seconds > 1.0, (peak, seconds)

    page.screenshot(path=str(ARTIFACTS / "screenshots" / "settings-after.png"), full_page=True)

    # An option saved through its generated field...
    page.fill("#id_options__local__speed", "1.25")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    speech_settings = SpeechSettings.objects.get(tenant=tenant)
    assert (speech_settings.voice, speech_settings.options) == ("cedar", {"speed": 1.25})
    assert page.input_value("#id_options__local__speed") == "1.25"

    # ... reaches the next session minted for the tenant.
    chat = open_chat()
    chat.log_in()
    with chat.page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted:
        chat.page.click("#connect")
    session = minted.value.json()
    assert session["voice"] == "cedar"
    assert session["session"]["audio"]["output"]["speed"] == 1.25
    chat.wait_connected()
    chat.page.click("#hangup")


def test_a_bad_option_shows_its_message_on_its_field(admin_page, served):
    page = admin_page
    tenant = Tenant.objects.get(slug="default")
    page.goto(f"{served.url}/admin/settings_admin/speechsettings/{tenant.pk}/change/")
    page.select_option("#id_provider", "azure_openai")
    page.fill("#id_model", "contoso-realtime")
    page.fill("#id_endpoint", "https://contoso.openai.azure.com/openai/realtimeapi/sessions")
    page.select_option("#id_options__azure_openai__interface", "preview")
    page.click("input[name=_continue]")
    row = page.locator(".form-row.field-options__azure_openai__region")
    assert "needs the resource's region" in row.inner_text()
    assert page.is_visible(".field-options__azure_openai__region")
    assert SpeechSettings.objects.get(tenant=tenant).provider == "local"


def test_the_audit_list_fits_a_1280_pixel_window(admin_page, served, django_user_model):
    from speech.models import SessionAudit

    tenant = Tenant.objects.get(slug="default")
    for index in range(3):
        SessionAudit.objects.create(
            tenant=tenant, provider="azure_openai", model="contoso-realtime-deployment", voice="shimmer",
            outcome="failure", error_code="provider_response_too_large", duration_ms=1234.5,
            client_ip=f"2001:db8:85a3:8d3:1319:8a2e:370:73{index:02d}",
        )  # fmt: skip
    ada = django_user_model.objects.get(username="ada")
    ada.user_permissions.add(Permission.objects.get(codename="view_sessionaudit"))
    admin_page.goto(f"{served.url}/admin/speech/sessionaudit/")
    admin_page.wait_for_selector("#result_list")
    admin_page.screenshot(path=str(ARTIFACTS / "screenshots" / "audit-after.png"), full_page=True)
    # Nothing scrolls sideways: neither the page nor the table's own box (the admin lets it scroll).
    assert admin_page.evaluate("document.documentElement.scrollWidth") <= 1280
    table = admin_page.eval_on_selector("#changelist .results", "box => [box.scrollWidth, box.clientWidth]")
    assert table[0] <= table[1], table
    assert "provider_response_too_large" in admin_page.inner_text("#result_list")
    admin_page.goto(f"{served.url}/admin/speech/sessionaudit/usage/")
    admin_page.wait_for_selector(".usage-chart")
    admin_page.screenshot(path=str(ARTIFACTS / "screenshots" / "usage-after.png"), full_page=True)


def test_the_tenant_pages_inline_follows_the_provider_and_plays_a_voice(admin_page, served):
    page = admin_page
    tenant = Tenant.objects.get(slug="default")
    page.goto(f"{served.url}/admin/settings_admin/tenant/{tenant.pk}/change/")
    prefix = "#id_speech_settings-0-"
    page.wait_for_selector(f"{prefix}provider")
    assert page.is_visible(f"{prefix}options__local__speed")
    assert not page.is_visible(f"{prefix}options__azure_openai__interface")
    page.select_option(f"{prefix}provider", "openai_realtime")
    assert page.input_value(f"{prefix}model") == "gpt-realtime"
    assert page.is_visible(f"{prefix}options__openai_realtime__speed")
    assert not page.is_visible(f"{prefix}options__local__speed")
    page.select_option(f"{prefix}provider", "local")
    page.select_option(f"{prefix}voice", "ash")
    page.click(".inline-related .speech-preview")
    page.wait_for_selector(".inline-related .speech-preview-audio[data-state=playing]", state="attached", timeout=10000)
    assert "Playing ash." in page.inner_text(".inline-related .speech-preview-note")
