from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.models import TenantAPIKey

from . import metrics
from .permissions import CanMintSessions
from .serializers import StrictSerializer, StringField
from .services import Actor, SessionRequest, realtime_session_create
from .tenancy import speech_settings_for_request
from .throttling import SESSION_THROTTLES, TelemetryRateThrottle, client_ip


def actor_for(request):
    return Actor(
        user=request.user if request.user.is_authenticated else None,
        api_key=request.auth if isinstance(request.auth, TenantAPIKey) else None,
        client_ip=client_ip(request),
    )


class RealtimeSessionApi(APIView):
    """POST /realtime_session: mint a short-lived client secret for the browser."""

    permission_classes = [CanMintSessions]
    throttle_classes = SESSION_THROTTLES

    class InputSerializer(StrictSerializer):
        model = StringField(required=False, max_length=100)
        voice = StringField(required=False, max_length=64)
        endpoint = StringField(required=False, max_length=500)

    class OutputSerializer(serializers.Serializer):
        provider = serializers.CharField()
        model = serializers.CharField()
        voice = serializers.CharField()
        client_secret = serializers.SerializerMethodField()
        webrtc = serializers.SerializerMethodField()
        session = serializers.JSONField(source="minted.session")

        def get_client_secret(self, payload):
            return {"value": payload.minted.client_secret, "expires_at": payload.minted.expires_at}

        def get_webrtc(self, payload):
            return {"url": payload.minted.webrtc_url, "data_channel": payload.minted.data_channel}

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payload = realtime_session_create(
            speech_settings=speech_settings_for_request(request),
            actor=actor_for(request),
            requested=SessionRequest(**serializer.validated_data),
        )
        return Response(self.OutputSerializer(payload).data)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"  # the answer carries a secret
        return response


class ConnectTelemetryApi(APIView):
    """POST /api/v1/telemetry/connect: the chat page reports how connecting went (for the metrics only)."""

    permission_classes = [AllowAny]
    throttle_classes = [TelemetryRateThrottle]

    class InputSerializer(StrictSerializer):
        outcome = serializers.ChoiceField(choices=["connected", "failed"])
        connect_ms = serializers.IntegerField(min_value=0, max_value=600_000, required=False)
        stage = serializers.ChoiceField(choices=metrics.FAILURE_STAGES, required=False)

        def validate(self, attrs):
            attrs = super().validate(attrs)
            if attrs["outcome"] == "connected" and "connect_ms" not in attrs:
                raise serializers.ValidationError({"connect_ms": ["Required when connected."]})
            if attrs["outcome"] == "failed" and "stage" not in attrs:
                raise serializers.ValidationError({"stage": ["Required when failed."]})
            return attrs

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = serializer.validated_data
        if report["outcome"] == "connected":
            metrics.webrtc_connect_seconds.observe(report["connect_ms"] / 1000)
        else:
            metrics.webrtc_failures_total.labels(report["stage"]).inc()
        return Response(status=status.HTTP_204_NO_CONTENT)
