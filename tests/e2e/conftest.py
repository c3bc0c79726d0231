"""End-to-end: a real Chromium (Debian's) drives the served project, talking to the local provider.

In CI (CI=true) a missing Chromium fails the run; elsewhere these tests skip with a reason.
"""

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from settings_admin.models import Membership, SpeechSettings, Tenant
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "e2e-password-correct-horse"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@contextmanager
def chromium(extra_args=()):
    """Debian's Chromium under Playwright, with the tests' flags and any more; fails, not skips, under CI."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread while the browser is open;
    # the ORM calls these tests make are plain sync ones, so Django's async guard does not apply.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def local_peer(local_services, settings):
    """The local provider's service (a process of its own) the browser tests talk to, and the gateway uses."""
    service = local_services(label="e2e")
    settings.LOCAL_REALTIME_URL = service.v1
    settings.LOCAL_REALTIME_API_KEY = service.api_key
    return service


@pytest.fixture
def served(live_server, local_peer, settings, transactional_db, django_user_model):
    """The project on a free local port, its default tenant on the local provider, and a member."""
    tenant, _ = Tenant.objects.get_or_create(slug="default", defaults={"name": "Default"})
    SpeechSettings.objects.update_or_create(
        tenant=tenant, defaults={"provider": "local", "model": "local-echo", "voice": "verse", "endpoint": ""}
    )
    bob = django_user_model.objects.create_user(username="bob", password=PASSWORD)
    Membership.objects.create(user=bob, tenant=tenant)
    ARTIFACTS.mkdir(exist_ok=True)
    yield live_server
    # Each test starts with no calls open: the pages are closed by now, and the peer notices.
    local_peer.wait_calls(0, seconds=10)


class ChatPage:
    """The chat page in a fresh browser context, with its console kept for assertions."""

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url
        self.console = []
        page.on("console", lambda message: self.console.append(message.text))
        page.on("pageerror", lambda error: self.console.append(f"PAGEERROR {error}"))

    def log_in(self, username="bob", password=PASSWORD):
        self.page.goto(f"{self.base_url}/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_selector("#connect:not([disabled])")

    def status(self):
        return self.page.get_attribute("#status", "data-state")

    def wait_connected(self, timeout=15000):
        self.page.wait_for_selector("#status[data-state=connected]", timeout=timeout)
        return int(self.page.get_attribute("#status", "data-connect-ms"))

    def logged(self, text):
        return [line for line in self.console if text in line]


@pytest.fixture
def open_chat(browser, served):
    """Opens the chat page in a fresh browser context, optionally with a script run before the page's own."""
    contexts = []

    def open_chat(init_script=None):
        context = browser.new_context()
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        return ChatPage(context.new_page(), served.url)

    yield open_chat
    for context in contexts:
        context.close()


@pytest.fixture
def chat(open_chat, request):
    page = open_chat()
    yield page
    # The page's console, kept for when a browser test fails (test-artifacts/console/).
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{request.node.name}.txt").write_text("\n".join(page.console))
