"""The OpenAPI schema is generated from the code, matches the committed copy, and the API keeps to it."""

from pathlib import Path

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from settings_admin.models import KeyScope, TenantAPIKey
from speech.errors import error_codes

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def generated_schema(tmp_path):
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return out.read_text()


def test_the_committed_schema_is_what_the_code_generates(tmp_path):
    assert generated_schema(tmp_path) == COMMITTED.read_text(), "run `make schema` and commit docs/openapi.yaml"


def test_every_error_code_is_in_the_schema():
    schema = yaml.safe_load(COMMITTED.read_text())
    reference = schema["components"]["schemas"]["ErrorBody"]["properties"]["code"]["$ref"]
    documented = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]["enum"]
    assert reference.endswith("/ErrorCode")
    assert sorted(documented) == sorted(error_codes())


def test_the_mint_answer_is_typed_for_generated_clients():
    schemas = yaml.safe_load(COMMITTED.read_text())["components"]["schemas"]

    def resolved(prop):
        reference = prop["allOf"][0]["$ref"] if "allOf" in prop else prop["$ref"]
        return schemas[reference.rsplit("/", 1)[-1]]

    answer = schemas["RealtimeSession"]["properties"]
    client_secret = resolved(answer["client_secret"])
    assert answer["client_secret"]["nullable"] is True  # null in unified mode
    assert client_secret["properties"]["value"]["type"] == "string"
    assert client_secret["properties"]["expires_at"]["type"] == "integer"
    webrtc = resolved(answer["webrtc"])
    assert webrtc["properties"]["url"]["type"] == "string"
    assert webrtc["properties"]["data_channel"]["type"] == "string"
    codecs = webrtc["properties"]["codecs"]
    assert (codecs["type"], codecs["items"]) == ("array", {"type": "string"})
    assert sorted(webrtc["required"]) == ["codecs", "data_channel", "url"]


def test_the_reference_page_is_served(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert "swagger-ui" in page.content.decode()
    assert client.get("/api/schema/").status_code == 200


@pytest.fixture
def api_schema(db):
    # A body over SPEECH_MAX_BODY_BYTES is refused with 413, a rightful refusal of bad input too.
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 413, 415, 429]}}}
    )
    # As Django's test client does: requests must not close the test's transactional connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=config)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")
schemathesis.serializer.alias("application/sdp", "text/plain")  # SDP offers are text


@pytest.fixture
def admin_key(speech_settings):
    return TenantAPIKey.objects.create_key(name="fuzz", tenant=speech_settings.tenant, scope=KeyScope.ADMIN)[1]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema(case, speech_settings, admin_key, openai_mint):
    """Fuzzed requests: no 5xx, and every answer (errors included) matches the schema.

    Not checked: that every schema-valid body is accepted. A model or voice outside the tenant's
    allowed set is a business rule no static schema can carry; it answers 400 with its own code.
    """
    case.call_and_validate(
        headers={"Authorization": f"Api-Key {admin_key}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
