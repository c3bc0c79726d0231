"""The settings panel of the chat page, in a real Chromium against the local provider."""

import time

from settings_admin.models import Membership, Role, SpeechSettings, UserPreference


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
    page.fill("#tenant-form [name=voice]", "darth")
    page.click("#tenant-form button[type=submit]")
    page.wait_for_selector("#tenant-note:has-text('Not saved')")
    assert "not a voice" in page.text_content("#tenant-note")
