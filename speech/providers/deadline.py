"""A total deadline for one provider call: connect, request and the whole response.

requests' timeouts bound each socket operation, not the call: an upstream that sends a byte every few
seconds holds a thread for as long as it likes. Here every call gets a Deadline; the connection hands
the response's socket to it when http.client builds the response (HTTPConnection.response_class, the
documented HTTPResponse(sock) constructor), and one watchdog thread per process shuts that socket down
(socket.shutdown) when the deadline passes. The blocked read then ends at once with an end of stream.

Connecting (DNS, TCP, TLS handshake) comes before the response exists: each of its steps waits at most
the connect timeout, and a call still connecting at its deadline is cut as soon as the response starts.
"""

import contextlib
import contextvars
import heapq
import http.client
import itertools
import socket
import threading
import time

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# The deadline of the call this thread is making, read where http.client builds the response.
current = contextvars.ContextVar("provider_deadline", default=None)


class Deadline:
    def __init__(self, seconds, *, watchdog=None):
        self.at = time.monotonic() + seconds
        self.expired = False
        self.sockets = []
        self.finished = False
        self.watchdog = watchdog or default_watchdog

    def __enter__(self):
        self.token = current.set(self)
        self.watchdog.add(self)
        return self

    def __exit__(self, *exc_info):
        current.reset(self.token)
        with self.watchdog.lock:  # after this the watchdog never touches the sockets (they go back to the pool)
            self.finished = True
            self.sockets.clear()

    def watch(self, sock):
        with self.watchdog.lock:
            if self.expired:
                _shutdown(sock)
            elif not self.finished:
                self.sockets.append(sock)

    def expire(self):
        """Called by the watchdog, holding its lock."""
        if self.finished:
            return
        self.expired = True
        for sock in self.sockets:
            _shutdown(sock)
        self.sockets.clear()


def _shutdown(sock):
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One thread that expires deadlines in time order; finished ones just wait their turn."""

    def __init__(self):
        self.lock = threading.Condition()
        self.heap = []
        self.order = itertools.count()  # ties never compare two Deadlines
        self.thread = None

    def add(self, deadline):
        with self.lock:
            heapq.heappush(self.heap, (deadline.at, next(self.order), deadline))
            if self.thread is None or not self.thread.is_alive():  # none yet, or a forked worker
                self.thread = threading.Thread(target=self.run, name="provider-deadlines", daemon=True)
                self.thread.start()
            elif self.heap[0][2] is deadline:  # sooner than the one the thread waits for
                self.lock.notify()

    def run(self):
        with self.lock:
            while True:
                now = time.monotonic()
                while self.heap and self.heap[0][0] <= now:
                    heapq.heappop(self.heap)[2].expire()
                self.lock.wait(self.heap[0][0] - now if self.heap else None)


default_watchdog = Watchdog()


class WatchedResponse(http.client.HTTPResponse):
    """http.client's response, handing its socket to the current call's deadline."""

    def __init__(self, sock, *args, **kwargs):
        super().__init__(sock, *args, **kwargs)
        deadline = current.get()
        if deadline is not None:
            deadline.watch(sock)


class WatchedHTTPConnection(HTTPConnection):
    response_class = WatchedResponse


class WatchedHTTPSConnection(HTTPSConnection):
    response_class = WatchedResponse


# urllib3 pools make their connections from the class attribute ConnectionCls (as its SOCKS pools do);
# a PoolManager makes its pools from pool_classes_by_scheme.
class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


WATCHED_POOL_CLASSES = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}
