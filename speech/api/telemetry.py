"""POST /api/v1/telemetry/connect: how connecting went, for the metrics."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from ..ops import metrics
from ..schema import error_responses
from ..serializers import StrictSerializer
from ..throttling import TelemetryRateThrottle


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

    @extend_schema(
        operation_id="telemetry_connect",
        summary="Report a connection's outcome",
        request=InputSerializer,
        responses={204: OpenApiResponse(description="Counted."), **error_responses("rate_limited")},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = serializer.validated_data
        if report["outcome"] == "connected":
            metrics.webrtc_connect_seconds.observe(report["connect_ms"] / 1000)
        else:
            metrics.webrtc_failures_total.labels(report["stage"]).inc()
        return Response(status=status.HTTP_204_NO_CONTENT)
