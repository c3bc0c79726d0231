"""The voice loop in a real Chromium against the served project and the built-in local provider."""

import json
import time

from tests.e2e.conftest import ARTIFACTS
from tests.speech.local.rtc_client import is_this_machines, sdp_candidates

# Chromium lets a page that is capturing the microphone autoplay anything, so the blocked path
# cannot be reached with a flag. This emulates a stricter browser (Safari's policy): play()
# is refused until the user clicks the page's unlock prompt.
STRICT_AUTOPLAY = """
(() => {
  const play = HTMLMediaElement.prototype.play;
  let unlocked = false;
  document.addEventListener('click', (e) => { if (e.target.id === 'unlock-audio') unlocked = true; }, true);
  HTMLMediaElement.prototype.play = function () {
    if (!unlocked) return Promise.reject(new DOMException('autoplay blocked', 'NotAllowedError'));
    return play.call(this);
  };
})();
"""

# Keeps the page's microphone streams where the test can see whether their tracks were stopped.
RECORD_MICROPHONES = """
(() => {
  const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  window.__microphones = [];
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const stream = await getUserMedia(constraints);
    window.__microphones.push(stream);
    return stream;
  };
})();
"""


# Keeps the page's peer connection, the offer it posted and the answer it applied.
RECORD_NEGOTIATION = """
(() => {
  const fetchOriginal = window.fetch;
  window.fetch = function (url, init) {
    if (String(url).includes('/realtime/calls')) window.__offer = init.body;
    return fetchOriginal.apply(this, arguments);
  };
  const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (description) {
    window.__peer = this;
    window.__answer = description.sdp;
    return setRemote.apply(this, arguments);
  };
})();
"""

# The candidates of the pair the peer connection selected, from its own statistics.
SELECTED_PAIR = """async () => {
  const stats = await window.__peer.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  const side = (id) => { const c = stats.get(id); return { address: c.address, port: c.port, type: c.candidateType }; };
  return pair && { local: side(pair.localCandidateId), remote: side(pair.remoteCandidateId) };
}"""


ALL_MICROPHONES_STOPPED = "() => window.__microphones.every(s => s.getTracks().every(t => t.readyState === 'ended'))"


def report(name, value):
    line = f"{name}: {value}"
    print(f"\n[e2e] {line}")
    with open(ARTIFACTS / "e2e-measurements.txt", "a") as out:
        out.write(line + "\n")


def test_connect_talk_and_hear_the_echo(chat):
    page = chat.page
    chat.log_in()
    started = time.monotonic()
    with page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted:
        page.click("#connect")
    assert minted.value.status == 200
    with page.expect_request(lambda r: r.url.endswith("/api/v1/telemetry/connect")) as reported:
        connect_ms = chat.wait_connected()
    assert reported.value.post_data_json == {"outcome": "connected", "connect_ms": connect_ms}
    report("click to connected (ms, page-measured)", connect_ms)
    report("click to connected (ms, test-measured)", round((time.monotonic() - started) * 1000))

    page.wait_for_function("() => document.querySelector('#transcript li[data-role=assistant]')?.textContent"
                           ".startsWith('Echo of')", timeout=15000)  # fmt: skip
    page.wait_for_function("() => Number(document.querySelector('#remote-level').dataset.peak || 0) > 0.01",
                           timeout=10000)  # fmt: skip
    assert chat.logged("[webrtc] connectionState → connected")
    assert chat.logged("[webrtc] data channel open")
    assert chat.logged("[speech] session created")
    assert chat.logged("event input_audio_buffer.speech_started")
    assert chat.logged("event input_audio_buffer.speech_stopped")
    assert page.locator("#transcript li[data-role=user]").first.text_content().endswith("s of speech]")
    page.screenshot(path=str(ARTIFACTS / "chat-connected.png"))
    assert not chat.logged("PAGEERROR")


def test_a_typed_message_is_answered_in_the_transcript(chat):
    page = chat.page
    chat.log_in()
    page.click("#connect")
    chat.wait_connected()
    page.fill("#message", "Testing one two three")
    page.press("#message", "Enter")
    page.wait_for_selector("#transcript li[data-role=user]:has-text('Testing one two three')")
    page.wait_for_selector(
        "#transcript li[data-role=assistant][data-pending=false]:has-text('Testing one two three')", timeout=15000
    )
    assert page.input_value("#message") == ""


def test_a_session_failure_shows_the_realtime_session_error_toast(chat, monkeypatch):
    from settings_admin.models import SpeechSettings

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    SpeechSettings.objects.filter(tenant__slug="default").update(provider="openai_realtime", model="gpt-realtime")
    page = chat.page
    chat.log_in()
    with page.expect_request(lambda r: r.url.endswith("/api/v1/telemetry/connect")) as reported:
        page.click("#connect")
    toast = page.wait_for_selector(".toast")
    assert reported.value.post_data_json == {"outcome": "failed", "stage": "session"}
    assert "Realtime session error" in toast.text_content()
    assert "No provider credential is configured" in toast.text_content()
    page.wait_for_selector("#status[data-state=failed]")
    assert page.is_visible("#connect")


def test_a_negotiation_timeout_is_retried_with_a_fresh_session(chat, settings, local_peer):
    from tests.servers import OfferDelayProxy

    settings.SPEECH_NEGOTIATION_TIMEOUT_MS = 1500
    proxy = OfferDelayProxy(local_peer.port, delay=4)  # a slow provider, until the retry
    settings.LOCAL_REALTIME_URL = f"{proxy.url}/v1"
    try:
        page = chat.page
        sessions = []
        page.on("response", lambda r: r.url.endswith("/realtime_session") and sessions.append(r.status))
        chat.log_in()
        with page.expect_console_message(lambda m: "timed out; retrying" in m.text, timeout=10000):
            page.click("#connect")
        proxy.delay = 0  # for the retry, which waits out a backoff first
        chat.wait_connected(timeout=20000)
    finally:
        proxy.close()
    assert sessions == [200, 200]
    assert chat.logged("negotiation attempt 1 timed out; retrying with a fresh session")


def test_negotiation_that_keeps_timing_out_ends_in_a_toast(chat, settings, local_services):
    settings.SPEECH_NEGOTIATION_TIMEOUT_MS = 800
    settings.SPEECH_NEGOTIATION_ATTEMPTS = 2
    settings.LOCAL_REALTIME_URL = local_services(LOCAL_REALTIME_ANSWER_DELAY_SECONDS=2).v1
    page = chat.page
    chat.log_in()
    page.click("#connect")
    toast = page.wait_for_selector(".toast:has-text('WebRTC negotiation timed out')", timeout=15000)
    assert toast
    page.wait_for_selector("#status[data-state=failed]")


def test_blocked_audio_shows_a_prompt_and_a_click_starts_playback(open_chat):
    chat = open_chat(STRICT_AUTOPLAY)
    page = chat.page
    chat.log_in()
    page.click("#connect")
    chat.wait_connected()
    page.wait_for_selector("#unlock-audio:not([hidden])")
    assert chat.logged("audio playback blocked")
    page.click("#unlock-audio")
    page.wait_for_selector("#unlock-audio", state="hidden")
    page.wait_for_function("() => !document.getElementById('remote-audio').paused")


def test_the_client_secret_is_not_reachable_from_the_page(chat):
    page = chat.page
    chat.log_in()
    with page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted:
        page.click("#connect")
    secret = json.loads(minted.value.body())["client_secret"]["value"]
    chat.wait_connected()
    found = page.evaluate(
        """(secret) => {
          const seen = new Set(), hits = [];
          const queue = [[window, 'window', 0]];
          while (queue.length) {
            const [value, path, depth] = queue.shift();
            if (typeof value === 'string') { if (value.includes(secret)) hits.push(path); continue; }
            if (!value || (typeof value !== 'object' && typeof value !== 'function') || seen.has(value)) continue;
            if (depth > 6 || value instanceof Node) continue;
            seen.add(value);
            let keys = [];
            try { keys = Object.getOwnPropertyNames(value); } catch { continue; }
            for (const key of keys) {
              let child;
              try { child = value[key]; } catch { continue; }
              queue.push([child, `${path}.${key}`, depth + 1]);
            }
          }
          for (const storage of [localStorage, sessionStorage]) {
            for (let i = 0; i < storage.length; i++) {
              if (storage.getItem(storage.key(i)).includes(secret)) hits.push('storage');
            }
          }
          if (document.documentElement.outerHTML.includes(secret)) hits.push('DOM');
          return hits;
        }""",
        secret,
    )
    assert secret.startswith("ek_")
    assert found == []
    assert not chat.logged(secret)


def test_hang_up_stops_the_microphone_and_the_page_can_connect_again(open_chat, local_peer):
    chat = open_chat(RECORD_MICROPHONES)
    page = chat.page
    chat.log_in()
    page.click("#connect")
    chat.wait_connected()
    page.click("#hangup")
    page.wait_for_selector("#status[data-state=idle]")
    assert page.evaluate("() => window.__microphones.every(s => s.getTracks().every(t => t.readyState === 'ended'))")
    assert local_peer.wait_calls(0, seconds=5) == 0, "the peer should notice the hang-up"
    page.click("#connect")
    chat.wait_connected()
    assert page.evaluate("() => window.__microphones.length") == 2


def test_ten_connects_in_a_row_each_reach_connected_and_hang_up_to_idle(open_chat, local_peer):
    """Connecting again and again works every time and leaks nothing (the timing is the benchmark's job)."""
    chat = open_chat(RECORD_MICROPHONES)
    page = chat.page
    chat.log_in()
    for run in range(1, 11):
        page.click("#connect")
        chat.wait_connected()
        page.click("#hangup")
        page.wait_for_selector("#status[data-state=idle]")
        assert page.is_visible("#connect") and page.is_hidden("#hangup"), f"run {run}"
        assert page.evaluate("() => window.__microphones.length") == run
        assert page.evaluate(ALL_MICROPHONES_STOPPED), f"run {run}"
    assert local_peer.wait_calls(0, seconds=5) == 0, "every hang-up should end its call at the peer"
    assert page.locator(".toast").count() == 0
    assert not chat.logged("PAGEERROR")


def test_muting_keeps_the_call_up(chat, settings, local_services):
    """A muted track still sends (silent) audio, so the peer must not take it for a closed page."""
    peer = local_services(LOCAL_REALTIME_MEDIA_TIMEOUT_SECONDS=1)
    settings.LOCAL_REALTIME_URL = peer.v1
    page = chat.page
    chat.log_in()
    page.click("#connect")
    chat.wait_connected()
    page.click("#mute")
    assert page.get_attribute("#mute", "aria-pressed") == "true"
    time.sleep(2.5)
    assert chat.status() == "connected"
    assert peer.open_calls() == 1
    page.click("#mute")
    assert page.text_content("#mute") == "Mute"


def test_the_unified_interface_connects_without_a_secret_in_the_page(chat):
    from settings_admin.models import SpeechSettings

    SpeechSettings.objects.filter(tenant__slug="default").update(webrtc_mode="unified")
    page = chat.page
    chat.log_in()
    with page.expect_response(lambda r: r.url.endswith("/realtime_session")) as minted:
        page.click("#connect")
    assert minted.value.json()["client_secret"] is None
    with page.expect_response(lambda r: "/api/v1/realtime_call" in r.url) as relayed:
        chat.wait_connected()
    assert relayed.value.status == 201
    page.wait_for_selector("#transcript li[data-role=assistant]:has-text('Echo of')", timeout=15000)


def test_the_call_runs_between_this_machines_own_addresses_on_one_the_answer_offered(open_chat):
    """No STUN server and nothing off the machine: Chromium's selected pair joins two of this machine's own
    addresses (the kernel loops such traffic back; aioice binds no 127.0.0.1), the service's side one its
    answer offered as a host candidate. The offer went out with a candidate of Chromium's own."""
    chat = open_chat(RECORD_NEGOTIATION)
    page = chat.page
    chat.log_in()
    page.click("#connect")
    chat.wait_connected()
    assert sdp_candidates(page.evaluate("window.__offer")), "the offer carries the browser's first candidate"
    offered = sdp_candidates(page.evaluate("window.__answer"))
    assert offered and {fields[7] for fields in offered} == {"host"}
    pair = page.evaluate(SELECTED_PAIR)
    assert pair, "a selected candidate pair"
    assert (pair["remote"]["address"], str(pair["remote"]["port"])) in {(f[4], f[5]) for f in offered}
    assert is_this_machines(pair["local"]["address"]) and is_this_machines(pair["remote"]["address"]), pair
    report("selected candidate pair", f"{pair['local']['address']} -> {pair['remote']['address']}")
