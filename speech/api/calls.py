"""Calls: the direct-mode report of a call's provider call id, and reading calls and usage (docs/calls.md)."""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.models import KeyScope, Role
from settings_admin.selectors import ApiKeyView

from .. import errors
from ..calls.selectors import calls_usage, calls_visible
from ..calls.services import call_report
from ..permissions import CanMintSessions, IsTenantMemberOrKey
from ..schema import error_responses
from ..serializers import StrictSerializer, StringField
from ..services import call_ref_max_age
from ..tenancy import user_role
from ..throttling import CallReportThrottle
from .sessions import actor_for

REPORT_ERRORS = ("not_a_member", "api_key_wrong_tenant", "tenant_not_found", "rate_limited", "call_ref_invalid",
                 "call_ref_forbidden", "call_id_invalid", "call_not_found", "call_already_reported")  # fmt: skip
READ_ERRORS = ("not_a_member", "api_key_wrong_tenant", "tenant_not_found", "not_found")


class CallReportApi(APIView):
    """POST /api/v1/calls/report: direct mode; the browser names the provider's call id of the call it was minted."""

    permission_classes = [CanMintSessions]
    throttle_classes = [CallReportThrottle]

    class InputSerializer(StrictSerializer):
        ref = StringField(max_length=500, help_text="The mint answer's `call.ref`.")
        provider_call_id = StringField(
            max_length=200, help_text="The provider's call id: the last path segment of its answer's Location."
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(help_text="The call's id.")
        status = serializers.CharField(
            help_text="active: the call is recorded and handed to a call supervisor (which may not hold it: "
            "docs/calls.md)."
        )

    @extend_schema(
        operation_id="call_report",
        summary="Report a call's provider call id (direct mode)",
        description=(
            "Accepted only with a reference minted for this tenant and this caller, not older than the secret's "
            "lifetime plus a minute, a call id of the provider's format, and only once per call and per "
            "provider call id."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(*REPORT_ERRORS)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        speech_settings = request.speech_settings
        call_id = call_report(
            tenant_id=speech_settings.tenant_id,
            actor=str(actor_for(request)),
            ref=serializer.validated_data["ref"],
            provider_call_id=serializer.validated_data["provider_call_id"],
            max_age=call_ref_max_age(speech_settings),
        )
        return Response({"id": call_id, "status": "active"})


def visible_calls(request):
    """Admin-scoped keys and tenant admins see all the tenant's calls; others the calls they minted."""
    tenant = request.tenant
    if isinstance(request.auth, ApiKeyView):
        return calls_visible(
            tenant_id=tenant.id, api_key_id=request.auth.pk, sees_all=request.auth.scope == KeyScope.ADMIN
        )
    return calls_visible(
        tenant_id=tenant.id, user_id=request.user.pk, sees_all=user_role(request.user, tenant) == Role.ADMIN
    )


class CallPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        # DRF ignores a bad page_size silently; a client asking for "null" rows should hear why it got 50.
        given = request.query_params.get(self.page_size_query_param)
        if given is not None and not (given.isascii() and given.isdigit() and 1 <= int(given) <= self.max_page_size):
            raise serializers.ValidationError({"page_size": [f"A whole number, 1..{self.max_page_size}."]})
        return super().get_page_size(request)


class TokenCountsSerializer(serializers.Serializer):
    total_tokens = serializers.IntegerField()
    input_text_tokens = serializers.IntegerField()
    input_audio_tokens = serializers.IntegerField()
    input_cached_tokens = serializers.IntegerField(help_text="Part of the input counts, billed at the cached price.")
    output_text_tokens = serializers.IntegerField()
    output_audio_tokens = serializers.IntegerField()


class CallSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField(help_text="minted, active or ended.")
    provider = serializers.CharField()
    model = serializers.CharField()
    voice = serializers.CharField()
    webrtc_mode = serializers.CharField()
    provider_call_id = serializers.CharField(help_text="Empty until the provider's call id is known.")
    minted_at = serializers.DateTimeField()
    connected_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField(help_text="hung_up, time_limit, idle, budget, provider_error, ...; or empty.")
    end_reason_text = serializers.CharField(source="get_end_reason_display", help_text="The end reason in words.")
    duration_seconds = serializers.FloatField(help_text="Connected time: to the end, or so far.")
    records_transcript = serializers.BooleanField()
    usage = TokenCountsSerializer(source="*")
    cost = serializers.DecimalField(max_digits=14, decimal_places=6, help_text="Estimate, in USD.")


class TranscriptLineSerializer(serializers.Serializer):
    speaker = serializers.CharField(help_text="user or assistant.")
    text = serializers.CharField()
    said_at = serializers.DateTimeField()


class CallDetailSerializer(CallSerializer):
    transcript = TranscriptLineSerializer(many=True, help_text="Empty unless the tenant records transcripts.")


class CallsApi(generics.ListAPIView):
    """GET /api/v1/calls: the tenant's calls, newest first."""

    permission_classes = [IsTenantMemberOrKey]
    pagination_class = CallPagination
    serializer_class = CallSerializer

    def get_queryset(self):
        return visible_calls(self.request).order_by("-minted_at", "pk")

    @extend_schema(
        operation_id="calls_list",
        summary="List calls",
        description="Admin-scoped API keys and tenant admins see every call of the tenant; others their own.",
        responses={200: CallSerializer(many=True), **error_responses(*READ_ERRORS)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CallApi(generics.RetrieveAPIView):
    """GET /api/v1/calls/{id}: one call, with its transcript."""

    permission_classes = [IsTenantMemberOrKey]
    serializer_class = CallDetailSerializer

    def get_queryset(self):
        return visible_calls(self.request).prefetch_related("transcript")

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise errors.CallNotFound() from None

    @extend_schema(
        operation_id="calls_retrieve",
        summary="Read a call",
        responses={200: CallDetailSerializer, **error_responses(*READ_ERRORS, "call_not_found")},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class UsagePeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="The day's or month's start (UTC).")
    calls = serializers.IntegerField()
    minutes = serializers.FloatField(help_text="Connected minutes.")
    tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6, help_text="Estimate, in USD.")


class UsageApi(APIView):
    """GET /api/v1/usage: calls, minutes, tokens and cost by day (30 days) and by month (12 months)."""

    permission_classes = [IsTenantMemberOrKey]

    class OutputSerializer(serializers.Serializer):
        days = UsagePeriodSerializer(many=True)
        months = UsagePeriodSerializer(many=True)

    @extend_schema(
        operation_id="usage_retrieve",
        summary="Read call usage",
        description="Of the calls the caller may see (GET /api/v1/calls): the whole tenant for its admins.",
        parameters=[OpenApiParameter("days", int, description="Days back, 1..366 (default 30).")],
        responses={200: OutputSerializer, **error_responses(*READ_ERRORS)},
    )
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        usage = calls_usage(calls=visible_calls(request), now=timezone.now(), days=query.validated_data["days"])
        return Response(self.OutputSerializer(usage).data)


class UsageQuerySerializer(StrictSerializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=30)
