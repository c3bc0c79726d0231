"""Only the operator decides where a server key goes (docs/security.md, "Where keys go").

Each test is an attack by a tenant admin (session, admin-scoped API key, Django admin, the shell),
against a real HTTP server on loopback that records every Authorization header it receives and
would answer a valid mint: the attack succeeds if the key ever reaches it.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from settings_admin.models import KeyScope, Membership, Role, SpeechSettings, Tenant, TenantAPIKey
from settings_admin.registry import registry
from tests.conftest import SERVER_KEY
from tests.openai_shapes import mint_answer

pytestmark = pytest.mark.django_db


class Recorder(BaseHTTPRequestHandler):
    received = []  # (path, Authorization), set per server below

    def do_POST(self):  # noqa: N802  (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, self.headers.get("Authorization")))
        body = json.dumps(mint_answer()).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def attacker():
    """An attacker's server on loopback; `.received` lists what reached it."""
    handler = type("AttackerHandler", (Recorder,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}/v1/realtime/client_secrets"
    server.received = handler.received
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def tenant_admin(speech_settings, django_user_model):
    user = django_user_model.objects.create_user("mallory")
    Membership.objects.create(user=user, tenant=speech_settings.tenant, role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    return client


def patch(client, body, **headers):
    return client.patch("/api/v1/settings/speech", data=json.dumps(body), content_type="application/json", **headers)


def mint(client, **headers):
    return client.post("/api/v1/realtime_session", data="{}", content_type="application/json", **headers)


def error(response):
    return response.json()["error"]


# --- where an endpoint may point -----------------------------------------------------------


def test_a_tenant_admin_cannot_point_the_server_key_at_a_loopback_host(tenant_admin, attacker, speech_settings):
    response = patch(tenant_admin, {"endpoint": attacker.url})
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_request"
    assert "SPEECH_ALLOWED_ENDPOINT_HOSTS" in " ".join(error(response)["fields"]["endpoint"])
    mint(tenant_admin)
    assert attacker.received == []
    speech_settings.refresh_from_db()
    assert speech_settings.endpoint == ""


def test_an_admin_scoped_api_key_cannot_point_the_server_key_elsewhere(speech_settings, attacker):
    raw = TenantAPIKey.objects.create_key(name="ops", tenant=speech_settings.tenant, scope=KeyScope.ADMIN)[1]
    for endpoint in (attacker.url, "https://attacker.example/v1/realtime/client_secrets"):
        response = patch(Client(), {"endpoint": endpoint}, HTTP_AUTHORIZATION=f"Api-Key {raw}")
        assert response.status_code == 400, endpoint
        assert "endpoint" in error(response)["fields"]
    assert attacker.received == []


def test_the_django_admin_refuses_a_foreign_host_even_for_a_superuser(admin_client, speech_settings):
    from tests.settings_admin.test_admin import change_form_data, change_url

    response = admin_client.post(
        change_url(speech_settings),
        change_form_data(speech_settings, endpoint="https://attacker.example/v1/realtime/client_secrets"),
    )
    assert response.status_code == 200  # the form again, with the field's error
    assert "attacker.example is not a host of OpenAI Realtime" in response.content.decode()


def test_the_shell_command_refuses_a_foreign_host(speech_settings):
    with pytest.raises(CommandError, match="is not a host of OpenAI Realtime"):
        call_command("speech_settings", "default", "--endpoint", "https://attacker.example/v1/realtime/client_secrets")


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/v1/realtime/client_secrets",
        "https://api.openai.com.attacker.example/v1/realtime/client_secrets",
        "https://attacker-api.openai.com.example/v1/realtime/client_secrets",
        "https://api.openai.com@attacker.example/v1/realtime/client_secrets",
        "https://attacker.example\\@api.openai.com/v1/realtime/client_secrets",
        "https://attacker.example#@api.openai.com/v1/realtime/client_secrets",
        "https://attacker.example?@api.openai.com/v1/realtime/client_secrets",
        "https://api.openai.com./v1/realtime/client_secrets",
        "https://api%2eopenai.com/v1/realtime/client_secrets",
        "https://API.OPENAI.COM%00.attacker.example/v1/realtime/client_secrets",
        "https://api.openai.com/v1/../../attacker/v1/realtime/client_secrets",
        "https://api.openai.com/v1/%2e%2e/realtime/client_secrets",
        "https://api.openai.com//v1/realtime/client_secrets",
        "https://api.openai.com/v1/realtime/client_secrets\n",
        " https://api.openai.com/v1/realtime/client_secrets",
        "http://127.0.0.1/v1/realtime/client_secrets",
        "http://localhost:8080/v1/realtime/client_secrets",
        "http://2130706433/v1/realtime/client_secrets",
        "http://0x7f.1/v1/realtime/client_secrets",
        "http://127.1/v1/realtime/client_secrets",
        "http://[::1]/v1/realtime/client_secrets",
        "https://[::ffff:127.0.0.1]/v1/realtime/client_secrets",
        "https://10.0.0.5/v1/realtime/client_secrets",
        "https://169.254.169.254/v1/realtime/client_secrets",
        "https://[fd00::1]/v1/realtime/client_secrets",
    ],
)
def test_no_spelling_of_a_foreign_host_passes(url):
    assert registry.get("openai_realtime").endpoint_problem(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://contoso.openai.azure.com.attacker.example/openai/v1/realtime/client_secrets",
        "https://attacker.example/.openai.azure.com/openai/v1/realtime/client_secrets",
        "https://openai.azure.com/openai/v1/realtime/client_secrets",
        "https://contoso-openai.azure.com/openai/v1/realtime/client_secrets",
        "https://20.1.2.3/openai/v1/realtime/client_secrets",
        "http://127.0.0.1:9000/openai/v1/realtime/client_secrets",
    ],
)
def test_azure_endpoints_stay_on_azure_resource_hosts(url):
    assert registry.get("azure_openai").endpoint_problem(url) is not None


@pytest.mark.parametrize(
    "host",
    ["contoso.openai.azure.com", "contoso.cognitiveservices.azure.com", "contoso.services.ai.azure.com"],
)
def test_azure_resource_hosts_pass(host):
    assert registry.get("azure_openai").endpoint_problem(f"https://{host}/openai/v1/realtime/client_secrets") is None


def test_the_operator_allows_exactly_the_host_and_port_it_lists(settings, attacker):
    provider = registry.get("openai_realtime")
    port = attacker.server_port
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = [f"127.0.0.1:{port}"]
    assert provider.endpoint_problem(attacker.url) is None
    assert provider.endpoint_problem(f"http://127.0.0.1:{port + 1}/v1/realtime/client_secrets") is not None
    assert provider.endpoint_problem(f"http://localhost:{port}/v1/realtime/client_secrets") is not None
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1"]
    assert provider.endpoint_problem(f"http://127.0.0.1:{port + 1}/v1/realtime/client_secrets") is None
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = [".example.net"]
    assert provider.endpoint_problem("https://proxy.example.net/v1/realtime/client_secrets") is None
    assert provider.endpoint_problem("https://example.net/v1/realtime/client_secrets") is not None


def test_the_local_provider_is_reached_only_where_the_operator_runs_it(settings):
    provider = registry.get("local")
    settings.LOCAL_REALTIME_URL = "http://127.0.0.1:8001/v1"
    assert provider.endpoint_problem("http://127.0.0.1:8001/v1/realtime/client_secrets") is None
    assert provider.endpoint_problem("http://127.0.0.1:6379/v1/realtime/client_secrets") is not None
    # The operator's allow-list (for OpenAI-compatible hosts) does not carry a tenant's local key elsewhere.
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1", "compatible.example"]
    assert provider.endpoint_problem("http://127.0.0.1:6379/v1/realtime/client_secrets") is not None
    assert provider.endpoint_problem("https://compatible.example/v1/realtime/client_secrets") is not None


def test_a_stored_endpoint_the_operator_no_longer_allows_sends_nothing(settings, speech_settings, attacker, user):
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = [f"127.0.0.1:{attacker.server_port}"]
    speech_settings.endpoint = attacker.url
    speech_settings.full_clean()
    speech_settings.save()
    client = Client()
    client.force_login(user)
    assert mint(client).status_code == 200  # allowed: the operator's own host
    assert attacker.received == [("/v1/realtime/client_secrets", f"Bearer {SERVER_KEY}")]
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = []
    response = mint(client)
    assert response.status_code == 400
    assert error(response)["code"] == "endpoint_not_allowed"
    assert len(attacker.received) == 1


def test_the_allow_list_entries_are_checked_at_start(settings):
    from speech.checks import check_allowed_endpoint_hosts

    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["ok.example", "[::1]:8000", ".suffix.example", "http://x/", "a:b"]
    assert [e.id for e in check_allowed_endpoint_hosts()] == ["speech.E002", "speech.E002"]


# --- whose key is sent ---------------------------------------------------------------------


@pytest.fixture
def acme(speech_settings, django_user_model):
    """A second tenant on OpenAI, with an admin; the operator's OPENAI_API_KEY is in the environment."""
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    SpeechSettings.objects.create(tenant=tenant)
    admin = django_user_model.objects.create_user("acme-admin")
    Membership.objects.create(user=admin, tenant=tenant, role=Role.ADMIN)
    return tenant


def acme_mint(openai_mint):
    raw = TenantAPIKey.objects.create_key(name="acme", tenant=Tenant.objects.get(slug="acme"))[1]
    return mint(Client(), HTTP_AUTHORIZATION=f"Api-Key {raw}")


def test_the_shared_key_serves_only_tenants_granted_it(acme, openai_mint):
    response = acme_mint(openai_mint)
    assert response.status_code == 503
    assert error(response)["code"] == "credentials_missing"
    assert len(openai_mint.calls) == 0
    acme.shared_credentials = True  # a superuser's grant
    acme.save()
    assert acme_mint(openai_mint).status_code == 200
    assert openai_mint.calls[0].request.headers["Authorization"] == f"Bearer {SERVER_KEY}"


def test_the_default_tenant_is_granted_the_shared_key(speech_settings, logged_in_client, openai_mint):
    assert mint(logged_in_client).status_code == 200


def test_a_tenant_admin_cannot_grant_itself_the_shared_key(acme, openai_mint):
    raw = TenantAPIKey.objects.create_key(name="ops", tenant=acme, scope=KeyScope.ADMIN)[1]
    response = patch(Client(), {"shared_credentials": True}, HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert response.status_code == 400
    assert "shared_credentials" in error(response)["fields"]
    assert Tenant.objects.get(slug="acme").shared_credentials is False


def test_only_a_superuser_grants_the_shared_key_in_the_admin(acme, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("operator-staff", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["change_tenant", "view_tenant"]))
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/settings_admin/tenant/{acme.pk}/change/").content.decode()
    assert 'name="shared_credentials"' not in page  # shown read-only
    superuser = django_user_model.objects.create_superuser("root", password="x" * 12)
    client.force_login(superuser)
    page = client.get(f"/admin/settings_admin/tenant/{acme.pk}/change/").content.decode()
    assert 'name="shared_credentials"' in page


def test_the_status_says_why_an_ungranted_tenant_has_no_key(acme):
    from settings_admin.secrets import tenant_credential_status

    status = tenant_credential_status(speech_settings=acme.speech_settings)
    assert (status.state, status.detail) == ("missing", "the shared key is not granted to this tenant")


@pytest.mark.parametrize("name", ["../default/openai_realtime", "/speech/tenants/default/x", "a//b", "a/./b", "a b"])
def test_a_credential_name_cannot_leave_the_tenants_folder(acme, name):
    from django.core.exceptions import ValidationError

    acme.speech_settings.credential_ref = name
    with pytest.raises(ValidationError) as raised:
        acme.speech_settings.full_clean()
    assert "credential_ref" in raised.value.message_dict


def test_another_tenants_key_in_vault_is_out_of_reach(acme, vault, openai_mint):
    from settings_admin.secrets import credential_set

    provider = registry.get("openai_realtime")
    credential_set(reference="speech/tenants/default/openai_realtime", provider=provider, value="sk-default-own-key")
    settings = acme.speech_settings
    settings.credential_ref = "speech/tenants/default/openai_realtime"  # a plain name: inside acme's folder
    settings.full_clean()
    settings.save()
    assert settings.credential_reference == "speech/tenants/acme/speech/tenants/default/openai_realtime"
    response = acme_mint(openai_mint)
    assert error(response)["code"] == "credentials_missing"
    assert len(openai_mint.calls) == 0
