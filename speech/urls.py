from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("realtime_session", api.RealtimeSessionApi.as_view(), name="realtime-session"),
    path("api/v1/realtime_session", api.RealtimeSessionApi.as_view(), name="api-realtime-session"),
]
