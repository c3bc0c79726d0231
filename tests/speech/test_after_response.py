"""Bookkeeping after the response: a session's log line, metrics and audit row wait for close()."""

import io
import logging
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from settings_admin.models import TenantAPIKey
from speech.models import SessionAudit
from speech.ops.after_response import AfterResponse, after_response
from speech.ops.request_id import request_id_var

pytestmark = pytest.mark.django_db  # closing a response ends the request: Django looks at its connections


@pytest.fixture(autouse=True)
def _keep_the_tests_connection():
    """As Django's test client does: a request's start and end leave the test's open transaction alone."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def noted():
    notes = []

    def note(*, value):
        notes.append((value, request_id_var.get()))

    note.notes = notes
    return note


class Body(list):
    """A WSGI response body that notes its close()."""

    closed = False

    def close(self):
        self.closed = True


def respond(queue, request_id="req-00000001"):
    """Runs a WSGI application that calls queue() and answers a Body, under AfterResponse."""

    def application(environ, start_response):
        queue()
        start_response("200 OK", [])
        return Body([b"ok"])

    environ = {}
    setup_testing_defaults(environ)
    token = request_id_var.set(request_id)
    try:
        return AfterResponse(application)(environ, lambda status, headers, exc_info=None: None)
    finally:
        request_id_var.reset(token)


def test_outside_a_request_the_work_runs_at_once(noted):
    after_response(noted, value="now")
    assert noted.notes == [("now", "-")]


def test_the_work_waits_for_close_and_runs_in_the_requests_context(noted):
    def queue():
        after_response(noted, value="first")
        after_response(noted, value="second")

    body = respond(queue)
    assert b"".join(body) == b"ok"
    assert noted.notes == []
    body.close()
    assert noted.notes == [("first", "req-00000001"), ("second", "req-00000001")]
    assert body.body.closed


def test_a_failure_is_logged_and_the_rest_still_runs(noted, caplog):
    def broken(*, value):
        raise RuntimeError(value)

    def queue():
        after_response(broken, value="boom")
        after_response(noted, value="after")

    body = respond(queue)
    with caplog.at_level(logging.ERROR, logger="speech.ops.after_response"):
        body.close()
    assert noted.notes == [("after", "req-00000001")]
    assert body.body.closed  # the application's own close() still came
    assert "work deferred to the end of the response failed" in caplog.text


def test_when_the_application_raises_the_work_runs_at_once(noted):
    def queue():
        after_response(noted, value="recorded")
        raise RuntimeError("the view failed")

    with pytest.raises(RuntimeError):
        respond(queue)
    assert noted.notes == [("recorded", "req-00000001")]


def test_a_request_that_queues_nothing_gets_its_own_body_back():
    environ = {}
    setup_testing_defaults(environ)
    body = Body([b"ok"])
    assert AfterResponse(lambda environ, start_response: body)(environ, None) is body


def test_a_session_is_audited_when_the_server_closes_its_response(tenant, speech_settings, openai_mint, settings):
    settings.SPEECH_AUDIT_ASYNC = False
    _, raw_key = TenantAPIKey.objects.create_key(name="integration", tenant=tenant)
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/realtime_session", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Api-Key {raw_key}", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
    }  # fmt: skip
    setup_testing_defaults(environ)  # the rest of what a WSGI server passes
    statuses = []
    response = AfterResponse(WSGIHandler())(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(response)  # what a server sends before it closes the response

    assert statuses == ["200 OK"]
    assert not SessionAudit.objects.exists()
    response.close()
    assert SessionAudit.objects.get().outcome == "success"
