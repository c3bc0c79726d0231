"""Django's own Http404 and PermissionDenied, raised in an API view, answer in the API's error shape (not a 500)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView


class Raising(APIView):
    authentication_classes = []
    permission_classes = []
    raised = None

    def get(self, request):
        raise self.raised


@pytest.mark.parametrize(
    ("raised", "status", "code"), [(Http404(), 404, "not_found"), (PermissionDenied(), 403, "permission_denied")]
)
def test_djangos_own_exceptions_answer_in_the_api_shape(raised, status, code):
    response = Raising.as_view(raised=raised)(APIRequestFactory().get("/"))
    assert response.status_code == status
    assert response.data["error"]["code"] == code
