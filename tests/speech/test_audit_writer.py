"""The background audit writer (SPEECH_AUDIT_ASYNC): batches rows, never drops one."""

import threading
import time

import pytest

from speech import audit
from speech.audit import AuditWriter, audit_record, writer
from speech.calls.models import Call, CallStatus
from speech.models import SessionAudit

pytestmark = pytest.mark.django_db(transaction=True)


def fields(tenant, **overrides):
    return {"tenant_id": tenant.pk, "provider": "local", "model": "m", "voice": "v", "outcome": "success",
            "duration_ms": 1.0, **overrides}  # fmt: skip


def test_queued_rows_are_written_by_the_writer(tenant, settings):
    settings.SPEECH_AUDIT_ASYNC = True
    for index in range(25):
        audit_record(**fields(tenant, error_code=f"e{index}"))
    writer.flush()
    assert SessionAudit.objects.count() == 25


def test_a_backlog_beyond_one_batch_is_written_in_full(tenant, settings):
    settings.SPEECH_AUDIT_ASYNC = True
    for index in range(450):  # more than two batches arrive within one interval
        audit_record(**fields(tenant, error_code=f"b{index}"))
    writer.flush()
    assert SessionAudit.objects.count() == 450


def test_a_full_queue_makes_the_request_write_its_own_row(tenant):
    small = AuditWriter(maxsize=1)
    small._ensure_started = lambda: None  # no writer thread: the queue stays full
    small.record(fields(tenant, error_code="queued"))
    small.record(fields(tenant, error_code="written-at-once"))
    assert list(SessionAudit.objects.values_list("error_code", flat=True)) == ["written-at-once"]


def test_sessions_through_the_api_are_audited_in_the_background(logged_in_client, speech_settings, openai_mint,
                                                                settings):  # fmt: skip
    settings.SPEECH_AUDIT_ASYNC = True
    for _ in range(3):
        logged_in_client.post("/realtime_session", data="{}", content_type="application/json")
    writer.flush()
    assert SessionAudit.objects.filter(outcome="success").count() == 3


def test_a_session_is_answered_before_its_audit_row_is_written(logged_in_client, speech_settings, openai_mint,
                                                               settings, monkeypatch):  # fmt: skip
    settings.SPEECH_AUDIT_ASYNC = True
    holding, release = threading.Event(), threading.Event()

    def hold():  # runs in the writer's thread, with the row in hand
        holding.set()
        release.wait(timeout=10)

    monkeypatch.setattr(audit, "writer", AuditWriter(before_write=hold))
    try:
        response = logged_in_client.post("/realtime_session", data="{}", content_type="application/json")
        assert response.status_code == 200
        # The answer is back and the row is not written: the request did not write it (a writer on the
        # request path would have), and the background writer holds it.
        assert not SessionAudit.objects.exists()
        assert holding.wait(timeout=5), "the row never reached the background writer"
        assert not SessionAudit.objects.exists()
        assert not Call.objects.exists(), "the minted call's row is written by the same writer, not the request"
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while not SessionAudit.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list(SessionAudit.objects.values_list("outcome", flat=True)) == ["success"]
    # The minted call's row came with it, from the same writer (its audit row points at it).
    [call_id] = SessionAudit.objects.values_list("call_id", flat=True)
    assert str(call_id) == response.json()["call"]["id"]
    assert Call.objects.filter(pk=call_id, status=CallStatus.MINTED).exists()
