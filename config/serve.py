"""The production server (make serve): granian's WSGI workers in front of Django.

Granian reads and writes HTTP in Rust and hands each request to one of many Python threads per
worker process. The gateway mostly waits on providers, so a slow provider holds a thread, not a
worker. (gunicorn's gthread worker, used before, parsed and dispatched every request in Python:
about 0.4 ms of each session on the benchmark machine.)

    python -m config.serve      # BIND, WEB_CONCURRENCY, WEB_THREADS, ACCESS_LOG from the environment
"""

import os
import shutil

import environ
from granian import Granian
from granian.constants import Interfaces

env = environ.Env()  # read as settings.py reads the environment

ACCESS_LOG_FORMAT = '%(addr)s - - [%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'


def bind_address(bind):
    """ "127.0.0.1:8000" -> ("127.0.0.1", 8000); "[::1]:8000" -> ("::1", 8000)."""
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def reset_metrics_folder():
    # prometheus-client's multiprocess mode needs an empty folder before the workers start.
    folder = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, exist_ok=True)


def server():
    address, port = bind_address(env.str("BIND", default="127.0.0.1:8000"))
    granian = Granian(
        "config.wsgi:application",
        address=address,
        port=port,
        interface=Interfaces.WSGI,
        workers=env.int("WEB_CONCURRENCY", default=2),
        # More threads than requests you expect at once per worker: each waits out a provider.
        blocking_threads=env.int("WEB_THREADS", default=64),
        log_access=env.bool("ACCESS_LOG", default=True),
        log_access_format=ACCESS_LOG_FORMAT,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )
    granian.on_startup(reset_metrics_folder)
    return granian


if __name__ == "__main__":
    server().serve()
