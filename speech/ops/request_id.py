"""A request id on every request: taken from a sane X-Request-ID header or made, echoed back,
and put on every log record the request writes (LOG_FORMAT=json carries it as request_id)."""

import logging
import re
import uuid
from contextvars import ContextVar

request_id_var = ContextVar("request_id", default="-")
SANE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if SANE.match(offered) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = request_id_var.get()
        return True
