"""Bookkeeping that need not hold up the answer runs once the server has sent it.

A WSGI server calls close() on each response after sending it (PEP 3333; granian, gunicorn and
runserver all do). AfterResponse wraps the WSGI application (config/wsgi.py): work queued with
after_response() during a request runs at that close(), in the request's context (its request id),
before Django's own close() sends request_finished. Outside such a request (the test client, a
management command), or when the application raises, it runs at once.

A session's log line, metrics and audit row wait here: the client no longer waits for them.
"""

import contextvars
import functools
import logging

logger = logging.getLogger(__name__)

_pending = contextvars.ContextVar("after_response", default=None)


def after_response(func, /, **kwargs):
    """Call func(**kwargs) once the current response is sent (at once outside a request)."""
    pending = _pending.get()
    if pending is None:
        func(**kwargs)
    else:
        pending.append((contextvars.copy_context(), functools.partial(func, **kwargs)))


def _run(pending):
    for context, call in pending:
        try:
            context.run(call)
        except Exception:  # the server would swallow it at close() without a word
            logger.exception("work deferred to the end of the response failed: %r", call.func)
    pending.clear()


class AfterResponse:
    """WSGI middleware: runs the work a request queued once the server closes its response."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        pending = []
        token = _pending.set(pending)
        try:
            body = self.application(environ, start_response)
        except BaseException:
            _run(pending)
            raise
        finally:
            _pending.reset(token)
        return ClosingBody(body, pending) if pending else body


class ClosingBody:
    """The application's response body; its close() runs the queued work, then the body's own close()."""

    def __init__(self, body, pending):
        self.body = body
        self.pending = pending

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            _run(self.pending)
        finally:
            if hasattr(self.body, "close"):
                self.body.close()
