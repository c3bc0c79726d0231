"""Django's handler404 and handler500: JSON with a stable code on API paths, pages elsewhere."""

import html
import sys

from django.http import HttpResponse, JsonResponse
from django.views import defaults

from .. import errors
from .request_id import request_id_var


def _error_json(error, **extra):
    body = {"error": {"code": error.code, "message": error.message, **extra}}
    return JsonResponse(body, status=error.status)


def server_error(request):
    """handler500: an exception no view answered, raised anywhere (middleware and authentication too).
    A fault of the database or the secrets backend gets its own code and 503; anything else on an API
    path is internal_error with the request id, which the logged traceback carries too."""
    # Django calls this while handling the exception, so it is still the one being handled.
    exc = sys.exc_info()[1]
    fault = errors.fault_error(exc) or (exc if isinstance(exc, errors.SpeechError) else None)
    if errors.API_PATHS.match(request.path_info):
        if fault is not None:
            return _error_json(fault)
        return _error_json(errors.InternalError(), request_id=request_id_var.get())
    if fault is not None:
        return HttpResponse(
            f"<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
            f"<p>{html.escape(fault.message)}</p>",
            status=fault.status,
        )
    return defaults.server_error(request)


def page_not_found(request, exception):
    """handler404: JSON on API paths, Django's page elsewhere."""
    if errors.API_PATHS.match(request.path_info):
        return _error_json(errors.PathNotFound())
    return defaults.page_not_found(request, exception)
