"""Session audit rows (and the row of the call a mint opened), written after the answer in one
transaction or, with SPEECH_AUDIT_ASYNC, by a background writer that batches them (bulk_create) so
the database round trips leave the request threads.

The writer's queue is bounded; when it is full, the request writes its row itself, so no row is
ever dropped under load. The writer is not a daemon thread: when the process ends (a server worker
stopping, whatever the server), it writes the rows still queued, then ends too. A killed process
loses at most the last batch interval.
"""

import logging
import queue
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections, transaction

from .models import Call, SessionAudit

logger = logging.getLogger(__name__)

BATCH = 200
INTERVAL_SECONDS = 0.2
# How often an idle writer looks whether the process is ending.
IDLE_CHECK_SECONDS = 0.5


class AuditWriter:
    """`before_write`, if given, is called in the writer's thread before each batch is written: a seam
    that lets a test hold the writer (and so show that a request does not wait for its row)."""

    def __init__(self, maxsize=10000, before_write=None):
        self.queue = queue.Queue(maxsize=maxsize)
        self.before_write = before_write
        self._thread = None
        self._lock = threading.Lock()

    def _ensure_started(self):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                # Not a daemon (which it would inherit from a server's request thread): see _run.
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=False)
                self._thread.start()

    def record(self, fields, call=None):
        """Queue an audit row's fields (and its call's, if any); the writer builds the models (off the request
        path)."""
        self._ensure_started()
        try:
            self.queue.put_nowait((fields, call))
        except queue.Full:
            rows_write(fields, call)  # back pressure: never drop a row

    def _run(self):
        # The main thread ends when the process does; the interpreter then waits for this thread.
        main = threading.main_thread()
        while main.is_alive() or not self.queue.empty():
            try:
                rows = [self.queue.get(timeout=IDLE_CHECK_SECONDS)]  # idle until a row comes
            except queue.Empty:
                continue
            # Then gather for an interval without waiting on the queue: a waiting writer would be
            # woken (and take the GIL from a request) for every row.
            time.sleep(INTERVAL_SECONDS)
            self._write(rows + self._take(BATCH - 1))
            while self.queue.qsize() >= BATCH:  # a backlog: write it out, full batches only
                self._write(self._take(BATCH))

    def _take(self, count):
        rows = []
        try:
            while len(rows) < count:
                rows.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        return rows

    def _write(self, rows):
        try:
            if self.before_write is not None:
                self.before_write()
            close_old_connections()
            with transaction.atomic():  # the calls first: their audit rows point at them
                Call.objects.bulk_create([Call(**call) for _, call in rows if call is not None])
                SessionAudit.objects.bulk_create([SessionAudit(**fields) for fields, _ in rows])
        except Exception:  # the database is down: keep the rows in the log rather than lose them silently
            logger.exception("could not write %d session audit rows: %s", len(rows), rows)
        finally:
            if self.queue.empty():
                connections.close_all()  # idle: release this thread's connection (kept while busy)
            for _ in rows:
                self.queue.task_done()

    def flush(self):
        """Wait until every queued row is written."""
        self.queue.join()


writer = AuditWriter()


def rows_write(fields, call=None):
    with transaction.atomic():  # one commit for both
        if call is not None:
            Call.objects.create(**call)
        SessionAudit.objects.create(**fields)


def audit_record(*, call=None, **fields):
    """One SessionAudit row for a session attempt; `call`, the fields of the call it minted (a fresh id, no
    provider call id yet: calls.services.call_fields), is written with it."""
    if call is not None:
        fields["call_id"] = call["id"]
    if settings.SPEECH_AUDIT_ASYNC:
        writer.record(fields, call)
    else:
        rows_write(fields, call)
