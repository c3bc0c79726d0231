"""gunicorn for the gateway (make serve). The work is waiting on providers, so each worker
runs many threads: a slow provider holds a thread, not a whole worker."""

import os
import shutil

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
# More threads than clients you expect per worker: keep-alive connections do not spread evenly.
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log
errorlog = "-"
# Workers share nothing but the database, the cache and the metrics folder.
preload_app = False


def on_starting(server):
    # prometheus-client's multiprocess mode needs an empty folder at start.
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


def post_worker_init(worker):
    # The app is loaded: set its objects aside from the cycle collector, whose full collections
    # would otherwise walk all of Django on the request path (a latency spike each time).
    import gc

    gc.freeze()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    # Rows the background audit writer still holds (SPEECH_AUDIT_ASYNC) go to the database first.
    import sys

    audit = sys.modules.get("speech.audit")  # loaded only in a worker that served a session
    if audit is not None:
        audit.writer.flush()
