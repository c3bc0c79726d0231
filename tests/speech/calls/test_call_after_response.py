"""The mint does not wait for its call's row: it is written when the server closes the response, with the
audit row that links to it."""

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from settings_admin.models import TenantAPIKey
from speech.calls.models import Call
from speech.models import SessionAudit
from speech.ops.after_response import AfterResponse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_tests_connection():
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_the_calls_row_is_written_after_the_answer(tenant, speech_settings, openai_mint, settings):
    settings.SPEECH_AUDIT_ASYNC = False
    key, raw_key = TenantAPIKey.objects.create_key(name="integration", tenant=tenant)
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/realtime_session", "REMOTE_ADDR": "198.51.100.7",
        "HTTP_AUTHORIZATION": f"Api-Key {raw_key}", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
    }  # fmt: skip
    setup_testing_defaults(environ)
    response = AfterResponse(WSGIHandler())(environ, lambda status, headers, exc_info=None: None)
    answer = json.loads(b"".join(response))

    assert not Call.objects.exists()  # the answer, call id and all, left before the row
    response.close()
    call = Call.objects.get()
    assert str(call.pk) == answer["call"]["id"]
    assert (call.api_key_id, call.user_id, call.client_ip) == (key.pk, None, "198.51.100.7")
    assert SessionAudit.objects.get().call_id == call.pk
