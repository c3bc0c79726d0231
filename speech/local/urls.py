from django.urls import path

from . import views

urlpatterns = [
    path("v1/realtime/client_secrets", views.client_secrets, name="local-client-secrets"),
    path("v1/realtime/calls", views.calls, name="local-calls"),
    path("v1/realtime/calls/<str:call_id>/hangup", views.hangup, name="local-hangup"),
]
