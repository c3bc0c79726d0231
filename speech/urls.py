from django.urls import path

from . import views
from .api import calls, preferences, previews, providers, sessions, settings, telemetry, tools
from .ops import views as ops

urlpatterns = [
    path("", views.chat, name="chat"),
    path("realtime_session", sessions.RealtimeSessionApi.as_view(), name="realtime-session"),
    path("api/v1/realtime_session", sessions.RealtimeSessionApi.as_view(), name="api-realtime-session"),
    path("api/v1/realtime_call", sessions.RealtimeCallApi.as_view(), name="api-realtime-call"),
    path("api/v1/calls", calls.CallsApi.as_view(), name="api-calls"),
    path("api/v1/calls/report", calls.CallReportApi.as_view(), name="api-call-report"),
    path("api/v1/calls/<uuid:pk>", calls.CallApi.as_view(), name="api-call"),
    path("api/v1/usage", calls.UsageApi.as_view(), name="api-usage"),
    path("api/v1/telemetry/connect", telemetry.ConnectTelemetryApi.as_view(), name="telemetry-connect"),
    path("api/v1/providers", providers.ProvidersApi.as_view(), name="api-providers"),
    path("api/v1/settings/speech", settings.SpeechSettingsApi.as_view(), name="api-speech-settings"),
    path("api/v1/tools", tools.ToolsApi.as_view(), name="api-tools"),
    path("api/v1/tools/<int:pk>", tools.ToolApi.as_view(), name="api-tool"),
    path("api/v1/tools/<int:pk>/webhook_secret", tools.ToolSecretApi.as_view(), name="api-tool-webhook-secret"),
    path("api/v1/mcp_servers", tools.McpServersApi.as_view(), name="api-mcp-servers"),
    path("api/v1/mcp_servers/<int:pk>", tools.McpServerApi.as_view(), name="api-mcp-server"),
    path(
        "api/v1/tenants/<slug:tenant>/voice_preview", previews.VoicePreviewApi.as_view(), name="api-voice-preview"
    ),
    path("api/v1/settings/me", preferences.MyPreferencesApi.as_view(), name="api-my-preferences"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
]
