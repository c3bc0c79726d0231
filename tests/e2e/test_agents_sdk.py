"""OpenAI's Agents SDK for the browser (@openai/agents-realtime) against a session the gateway mints.

The SDK is installed from npm into tests/e2e/agents_sdk/ (exact versions, package-lock.json) and bundled with
esbuild once per test session; node_modules and the bundle are not committed. In CI (CI=true) a missing
node or npm fails the run; elsewhere these tests skip with a reason.

Same origin: the gateway's own chat page (its CSP, its session cookie and CSRF token) loads the bundle.
Cross origin: a page of another origin, allowed by the tenant's allowed_origins, mints with an API key.
"""

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from settings_admin.models import Tenant, TenantAPIKey

SDK_FOLDER = Path(__file__).resolve().parent / "agents_sdk"
BUNDLE = SDK_FOLDER / "dist" / "agent.js"
SAME_ORIGIN_BUNDLE_PATH = "/__agents_sdk_test__/agent.js"  # answered by the test (page.route), not the gateway


def _missing(message):
    pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)


def _installed_version(package):
    manifest = SDK_FOLDER / "node_modules" / package / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


@pytest.fixture(scope="session")
def agents_sdk_bundle():
    """The SDK bundled for the browser: npm ci (only when the pinned versions are not installed yet), then esbuild."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        _missing("node and npm are needed to bundle @openai/agents-realtime (Debian: apt-get install nodejs npm)")
    pinned = json.loads((SDK_FOLDER / "package.json").read_text())["dependencies"]
    if any(_installed_version(name) != version for name, version in pinned.items()):
        # No install scripts: esbuild's binary comes in its platform package; its postinstall only checks it.
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=SDK_FOLDER,
            check=True,
            timeout=300,
        )
    subprocess.run(
        [
            str(SDK_FOLDER / "node_modules" / ".bin" / "esbuild"),
            "agent.js",
            "--bundle",
            "--format=iife",
            "--platform=browser",
            "--target=chrome110",
            "--log-level=error",
            f"--outfile={BUNDLE}",
        ],
        cwd=SDK_FOLDER,
        check=True,
        timeout=120,
    )
    return BUNDLE.read_bytes()


class StaticSite:
    """Another origin: a page and the bundle, served on a free port of 127.0.0.1."""

    def __init__(self, bundle):
        files = {
            "/": ("text/html", b'<!doctype html><title>integrator</title><script src="/agent.js"></script>'),
            "/agent.js": ("text/javascript", bundle),
            "/favicon.ico": ("image/x-icon", b""),
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                content_type, body = files.get(self.path, ("text/plain", None))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def integrator_site(agents_sdk_bundle):
    site = StaticSite(agents_sdk_bundle)
    yield site
    site.close()


def record_console(page):
    """The page's console warnings and errors (the SDK's logger warns and errors there) and uncaught errors."""
    complaints = []
    page.on("console", lambda m: m.type in ("warning", "error") and complaints.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda error: complaints.append(f"pageerror: {error}"))
    return complaints


def _state(page, expression):
    return page.evaluate(f"() => JSON.parse(JSON.stringify(window.agentsTest.{expression}))")


def _wait(page, condition, timeout=20000):
    """Waits for a JS condition on window.agentsTest (`t`); a failure says what the page had recorded."""
    try:
        page.wait_for_function(f"() => {{ const t = window.agentsTest; return {condition}; }}", timeout=timeout)
    except Exception as exc:
        recorded = page.evaluate(
            "() => ({status: agentsTest.status, errors: agentsTest.errors, events: agentsTest.events.slice(-40),"
            " history: agentsTest.history})"
        )
        raise AssertionError(f"timed out waiting for {condition}: {json.dumps(recorded)[:6000]}") from exc


def _texts(item):
    """What an SDK history item says: its text and transcripts."""
    return " ".join(str(part.get("text") or part.get("transcript") or "") for part in item.get("content", []))


def _assistant_said(text):
    return (
        "t.history.some(i => i.type === 'message' && i.role === 'assistant' && i.status === 'completed' && "
        f"i.content.some(c => (c.transcript || c.text || '').includes({json.dumps(text)})))"
    )


def _quiet(page):
    """Mutes the microphone and waits until no turn and no answer is under way, so a typed message is the only input."""
    page.evaluate("() => agentsTest.session.mute(true)")
    settled = (
        "t.events.filter(e => e === 'input_audio_buffer.speech_started').length === "
        "t.events.filter(e => e === 'input_audio_buffer.speech_stopped').length && "
        "t.events.filter(e => e === 'response.created').length === "
        "t.events.filter(e => e === 'response.done').length"
    )
    for _ in range(2):  # settled twice, a turn's silence apart: a turn that was just ending has been answered
        _wait(page, settled)
        time.sleep(0.5)
    _wait(page, settled)


def converse(page):
    """The conversation both origins hold: the echo turn, a typed message, a tool call."""
    _wait(page, "t.status !== 'minting' && t.status !== 'connecting'")
    assert _state(page, "status") == "connected"
    assert _state(page, "minted.webrtc.data_channel") == "oai-events"

    # The fake microphone's beeps: a spoken turn with no words, answered by its echo.
    _wait(page, _assistant_said("Echo of"))
    history = _state(page, "history")
    users = [i for i in history if i["type"] == "message" and i["role"] == "user"]
    assert users and "s of speech]" in _texts(users[0]), history
    assert any("Echo of" in _texts(i) for i in history if i.get("role") == "assistant")

    _quiet(page)
    page.evaluate("() => agentsTest.say('Testing one two three')")
    _wait(page, "t.history.some(i => i.role === 'user' && i.content.some(c => c.text === 'Testing one two three'))")
    _wait(page, _assistant_said("Testing one two three"))

    # The tool runs in the browser (the SDK's execute), its output goes back, and the answer speaks it.
    page.evaluate("() => agentsTest.say('Please check_order order_id=A42')")
    _wait(page, _assistant_said("shipped on Monday"), timeout=30000)
    ran = {"name": "check_order", "args": {"order_id": "A42"}, "result": "shipped on Monday"}
    assert _state(page, "tools") == [ran]
    history = _state(page, "history")
    calls = [i for i in history if i["type"] == "function_call"]
    assert [(c["name"], json.loads(c["arguments"]), c["output"]) for c in calls] == [
        ("check_order", {"order_id": "A42"}, "shipped on Monday")
    ]
    events = _state(page, "events")
    assert "response.function_call_arguments.done" in events
    assert "error" not in events
    assert _state(page, "errors") == []
    page.evaluate("() => agentsTest.close()")


@pytest.fixture
def sdk_context(browser):
    contexts = []

    def open_context():
        context = browser.new_context()
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


def test_the_agents_sdk_on_the_gateways_own_page(chat, agents_sdk_bundle):
    """Same origin: the chat page of a logged-in member loads the SDK (under the page's CSP) and mints with its
    session cookie and CSRF token."""
    page = chat.page
    complaints = record_console(page)
    bundle_url = f"{chat.base_url}{SAME_ORIGIN_BUNDLE_PATH}"
    page.route(bundle_url, lambda route: route.fulfill(content_type="text/javascript", body=agents_sdk_bundle))
    chat.log_in()
    page.add_script_tag(url=SAME_ORIGIN_BUNDLE_PATH)
    # While any route is set, Playwright answers CORS preflights itself, which would hide the local service's.
    page.unroute(bundle_url)
    page.evaluate("(url) => { agentsTest.start({mintUrl: url, csrf: true}); }", "/realtime_session")
    converse(page)
    assert complaints == []  # a CSP refusal, a CORS failure, an SDK warning would all be here


def test_the_agents_sdk_on_another_origin_with_an_api_key(served, sdk_context, integrator_site):
    """Cross origin: an integrator's page, allowed by the tenant, mints with an API key (sessions scope)."""
    tenant = Tenant.objects.get(slug="default")
    _, key = TenantAPIKey.objects.create_key(name="integrator", tenant=tenant)
    start = "([url, key]) => { agentsTest.start({mintUrl: url, headers: {Authorization: `Api-Key ${key}`}}); }"
    mint_url = f"{served.url}/api/v1/realtime_session"

    # Until the tenant allows the origin, the browser keeps the mint's answer from the page.
    refused = sdk_context().new_page()
    refused.goto(f"{integrator_site.origin}/")
    refused.evaluate(start, [mint_url, key])
    _wait(refused, "t.status.startsWith('failed')")
    assert "Failed to fetch" in _state(refused, "status")

    tenant.allowed_origins = [integrator_site.origin]
    tenant.save()
    page = sdk_context().new_page()
    complaints = record_console(page)
    page.goto(f"{integrator_site.origin}/")
    page.evaluate(start, [mint_url, key])
    converse(page)
    assert complaints == []
