"""Session audit rows, written on the request path or, with SPEECH_AUDIT_ASYNC, by a background
writer that batches them (bulk_create) so the database round trip leaves the request path.

The writer's queue is bounded; when it is full, the request writes its row itself, so no row is
ever dropped under load. Pending rows are flushed when a gunicorn worker exits (config/gunicorn.conf.py);
a killed process loses at most the last batch interval.
"""

import logging
import queue
import threading

from django.conf import settings
from django.db import close_old_connections, connections

from .models import SessionAudit

logger = logging.getLogger(__name__)

BATCH = 200
INTERVAL_SECONDS = 0.2


class AuditWriter:
    def __init__(self, maxsize=10000):
        self.queue = queue.Queue(maxsize=maxsize)
        self._thread = None
        self._lock = threading.Lock()

    def _ensure_started(self):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def record(self, row):
        self._ensure_started()
        try:
            self.queue.put_nowait(row)
        except queue.Full:
            row.save()  # back pressure: never drop a row

    def _run(self):
        while True:
            rows = [self.queue.get()]
            try:
                while len(rows) < BATCH:
                    rows.append(self.queue.get(timeout=INTERVAL_SECONDS))
            except queue.Empty:
                pass
            self._write(rows)

    def _write(self, rows):
        try:
            close_old_connections()
            SessionAudit.objects.bulk_create(rows)
        except Exception:  # the database is down: keep the rows in the log rather than lose them silently
            logger.exception("could not write %d session audit rows: %s", len(rows), [str(r) for r in rows])
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
    row = SessionAudit(**fields)
    if settings.SPEECH_AUDIT_ASYNC:
        writer.record(row)
    else:
        row.save()
