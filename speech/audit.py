"""Session audit rows, written on the request path or, with SPEECH_AUDIT_ASYNC, by a background
writer that batches them (bulk_create) so the database round trip leaves the request path.

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
from django.db import close_old_connections, connections

from .models import SessionAudit

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

    def record(self, fields):
        """Queue a row's fields; the writer builds the model (off the request path)."""
        self._ensure_started()
        try:
            self.queue.put_nowait(fields)
        except queue.Full:
            SessionAudit.objects.create(**fields)  # back pressure: never drop a row

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
            SessionAudit.objects.bulk_create([SessionAudit(**fields) for fields in rows])
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


def audit_record(**fields):
    """One SessionAudit row for a session attempt."""
    if settings.SPEECH_AUDIT_ASYNC:
        writer.record(fields)
    else:
        SessionAudit.objects.create(**fields)
