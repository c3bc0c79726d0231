"""Bookkeeping after the response: a session's log line, metrics and audit row wait for close()."""

import io
import logging
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import RequestFactory

from settings_admin.models import TenantAPIKey
from speech.after_response import AfterResponseMiddleware, after_response
from speech.models import SessionAudit
from speech.request_id import request_id_var

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


def respond(view, request_id="req-00000001"):
    token = request_id_var.set(request_id)
    try:
        return AfterResponseMiddleware(view)(RequestFactory().get("/"))
    finally:
        request_id_var.reset(token)


def test_outside_a_request_the_work_runs_at_once(noted):
    after_response(noted, value="now")
    assert noted.notes == [("now", "-")]


def test_the_work_waits_for_close_and_runs_in_the_requests_context(noted):
    def view(request):
        after_response(noted, value="first")
        after_response(noted, value="second")
        return HttpResponse("ok")

    response = respond(view)
    assert noted.notes == []
    response.close()
    assert noted.notes == [("first", "req-00000001"), ("second", "req-00000001")]


def test_a_failure_is_logged_and_the_rest_still_runs(noted, caplog):
    finished = []

    def broken(*, value):
        raise RuntimeError(value)

    def view(request):
        after_response(broken, value="boom")
        after_response(noted, value="after")
        return HttpResponse("ok")

    def on_finished(**kwargs):
        finished.append(True)

    request_finished.connect(on_finished)
    try:
        with caplog.at_level(logging.ERROR, logger="speech.after_response"):
            respond(view).close()
    finally:
        request_finished.disconnect(on_finished)
    assert noted.notes == [("after", "req-00000001")]
    assert finished == [True]  # Django's own end of request still came
    assert "work deferred to the end of the response failed" in caplog.text


def test_when_the_view_raises_the_work_runs_at_once(noted):
    def view(request):
        after_response(noted, value="recorded")
        raise RuntimeError("the view failed")

    with pytest.raises(RuntimeError):
        respond(view)
    assert noted.notes == [("recorded", "req-00000001")]


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
    response = WSGIHandler()(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(response)  # what a server sends before it closes the response

    assert statuses == ["200 OK"]
    assert not SessionAudit.objects.exists()
    response.close()
    assert SessionAudit.objects.get().outcome == "success"
