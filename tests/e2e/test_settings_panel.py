"""The settings panel of the chat page, in a real Chromium against the local provider."""

import time

from settings_admin.models import Membership, Role, SpeechSettings, UserPreference
from tests.e2e.conftest import ARTIFACTS


def open_settings(chat):
    chat.log_in()
    chat.page.click("#settings summary")
    chat.page.wait_for_selector("#pref-voice option[value=cedar]", state="attached")


def test_a_chosen_voice_is_saved_and_used_by_the_next_session(chat):
    page = chat.page
    open_settings(chat)
    page.select_option("#pref-voice", "cedar")
    page.wait_for_selector("#pref-note:has-text('applies to your next session')")
    assert UserPreference.objects.get().voice == "cedar"
    with page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted:
        page.click("#connect")
    assert minted.value.json()["voice"] == "cedar"
    chat.wait_connected()


def test_push_to_talk_sends_what_was_said_while_holding(chat):
    page = chat.page
    open_settings(chat)
    page.check("input[name=turn-mode][value=push_to_talk]")
    page.wait_for_selector("#pref-note:has-text('Turn mode saved')")
    page.click("#connect")
    chat.wait_connected()
    page.wait_for_selector("#talk:not([hidden]):not([disabled])")
    time.sleep(1.0)
    assert not chat.logged("event input_audio_buffer.speech_started"), "voice activity should be off"
    talk = page.locator("#talk")
    talk.dispatch_event("pointerdown")
    time.sleep(1.2)  # the fake microphone beeps meanwhile
    talk.dispatch_event("pointerup")
    page.wait_for_selector("#transcript li[data-role=assistant]:has-text('Echo of')", timeout=10000)
    assert chat.logged("event input_audio_buffer.committed")
    assert not chat.logged("event input_audio_buffer.speech_started")


def test_a_member_sees_no_tenant_settings_but_a_tenant_admin_may_change_them(chat):
    page = chat.page
    open_settings(chat)
    assert page.is_hidden("#tenant-settings")

    Membership.objects.filter(user__username="bob").update(role=Role.ADMIN)
    from settings_admin.selectors import settings_cache_invalidate

    settings_cache_invalidate()
    page.reload()
    page.click("#settings summary")
    page.wait_for_selector("#tenant-settings:not([hidden])")
    assert "local · local-echo · key set" in page.text_content("#tenant-summary")
    page.fill("#tenant-form [name=instructions]", "Be brief.")
    page.click("#tenant-form button[type=submit]")
    page.wait_for_selector("#tenant-note:has-text('Saved')")
    assert SpeechSettings.objects.get(tenant__slug="default").instructions == "Be brief."
    # An option out of range: the server's message under its own input, and nothing saved.
    page.fill("#tenant-form [data-option=speed]", "9")
    page.click("#tenant-form button[type=submit]")
    page.wait_for_selector("#tenant-note:has-text('Not saved')")
    assert "1.5" in page.text_content("#tenant-options .option-error")
    assert SpeechSettings.objects.get(tenant__slug="default").options == {}


def voices_of(page):
    return page.eval_on_selector_all("#tenant-form [name=voice] option", "options => options.map(o => o.value)")


def test_a_tenant_admin_picks_among_the_providers_catalog_hears_a_voice_and_saves_an_option(chat):
    from settings_admin.registry import registry

    Membership.objects.filter(user__username="bob").update(role=Role.ADMIN)
    page = chat.page
    open_settings(chat)
    page.wait_for_selector("#tenant-settings:not([hidden])")
    form = "#tenant-form"
    assert page.input_value(f"{form} [name=provider]") == "local"
    assert voices_of(page) == list(registry.get("local").voices)
    assert page.is_visible(f"{form} [data-option=speed]")
    # Another provider in the form, before any save: its models and options.
    page.select_option(f"{form} [name=provider]", "openai_realtime")
    assert page.input_value(f"{form} [name=model]") == "gpt-realtime"
    assert voices_of(page) == list(registry.get("openai_realtime").voices)
    assert page.is_visible(f"{form} [data-option=noise_reduction]")
    page.select_option(f"{form} [name=provider]", "local")
    assert page.input_value(f"{form} [name=model]") == "local-echo"
    # A sample of the voice, played in the page.
    page.select_option(f"{form} [name=voice]", "sage")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/tenants/default/voice_preview")) as previewed:
        page.click("#tenant-voice-play")
    assert previewed.value.status == 200
    page.wait_for_selector("#tenant-voice-audio[data-state=playing]", state="attached", timeout=10000)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "chat-settings.png"), full_page=True)
    page.fill(f"{form} [data-option=speed]", "0.75")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#tenant-note:has-text('Saved')")
    saved = SpeechSettings.objects.get(tenant__slug="default")
    assert (saved.voice, saved.options, saved.allowed_voices) == ("sage", {"speed": 0.75}, [])
    # The allowed voices, among the provider's, sent once changed.
    assert page.eval_on_selector_all(f"{form} [name=allowed_voices] option:checked", "o => o.length") == 10
    page.select_option(f"{form} [name=allowed_voices]", ["sage", "cedar"])
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#tenant-note:has-text('Saved')")
    assert SpeechSettings.objects.get(tenant__slug="default").allowed_voices == ["sage", "cedar"]


def test_the_page_says_what_to_do_before_the_first_connect(chat):
    chat.log_in()
    page = chat.page
    assert "allow the microphone" in page.text_content("#first-steps")
    assert page.is_visible("#first-steps")
    page.click("#connect")
    chat.wait_connected()
    assert page.is_hidden("#first-steps")
    page.click("#hangup")
