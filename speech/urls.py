from django.urls import path

from . import api, operations, views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("realtime_session", api.RealtimeSessionApi.as_view(), name="realtime-session"),
    path("api/v1/realtime_session", api.RealtimeSessionApi.as_view(), name="api-realtime-session"),
    path("api/v1/realtime_call", api.RealtimeCallApi.as_view(), name="api-realtime-call"),
    path("api/v1/telemetry/connect", api.ConnectTelemetryApi.as_view(), name="telemetry-connect"),
    path("api/v1/providers", api.ProvidersApi.as_view(), name="api-providers"),
    path("api/v1/settings/speech", api.SpeechSettingsApi.as_view(), name="api-speech-settings"),
    path("api/v1/settings/me", api.MyPreferencesApi.as_view(), name="api-my-preferences"),
    path("healthz", operations.healthz, name="healthz"),
    path("readyz", operations.readyz, name="readyz"),
    path("metrics", operations.metrics, name="metrics"),
]
