"""A provider whose mint fails with an exception the gateway does not know, and a middleware that fails,
for the tests of internal_error."""

from django.db import OperationalError

from speech.providers.base import RealtimeProvider


class FailingProvider(RealtimeProvider):
    id = "failing"
    name = "Failing"
    models = ("m1",)
    voices = ("verse",)
    default_model = "m1"
    default_voice = "verse"
    default_endpoint = "https://failing.example/v1/realtime/client_secrets"
    declared_endpoint_hosts = ("failing.example",)
    credential_env = "FAILING_API_KEY"

    def create_session(self, *, api_key, config):
        raise RuntimeError("the failing provider failed")


class FailingMiddleware:
    """Raises what the X-Fail header names, before any view (and DRF) runs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        failure = request.headers.get("X-Fail")
        if failure == "runtime":
            raise RuntimeError("the middleware failed")
        if failure == "database":
            raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
        return self.get_response(request)
