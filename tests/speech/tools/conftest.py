import pytest

from .webhook_server import WebhookServer


@pytest.fixture
def webhook_server(tmp_path, settings):
    """A real HTTPS webhook the gateway trusts (its CA in SPEECH_TOOL_CA_BUNDLE) and may reach (allow-listed)."""
    server = WebhookServer(tmp_path)
    settings.SPEECH_TOOL_CA_BUNDLE = str(server.ca_path)
    settings.SPEECH_TOOL_ALLOWED_HOSTS = [f"localhost:{server.port}"]
    yield server
    server.close()
