"""Minting: POST /realtime_session (and /api/v1/realtime_session), and the unified relay POST /api/v1/realtime_call."""

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.models import TurnMode, WebRTCMode
from settings_admin.selectors import ApiKeyView, user_preference_get

from ..parsers import SDPParser
from ..permissions import CanMintSessions
from ..schema import error_responses
from ..serializers import StrictSerializer, StringField
from ..services import (
    Actor,
    SessionRequest,
    realtime_call_create,
    realtime_relay_describe,
    realtime_session_create,
)
from ..throttling import SESSION_THROTTLES, client_ip


def actor_for(request):
    return Actor(
        user=request.user if request.user.is_authenticated else None,
        api_key=request.auth if isinstance(request.auth, ApiKeyView) else None,
        client_ip=client_ip(request),
    )


SESSION_ERRORS = (
    "not_a_member", "api_key_wrong_tenant", "tenant_not_found", "model_not_allowed", "voice_not_allowed",
    "endpoint_not_allowed", "rate_limited", "credentials_missing", "secrets_unavailable", "secrets_auth_failed",
    "provider_auth_failed", "provider_rejected", "provider_unavailable", "provider_bad_response",
    "provider_rate_limited", "provider_timeout", "budget_exceeded",
)  # fmt: skip


def _preference(request, speech_settings):
    if not request.user.is_authenticated:
        return None
    return user_preference_get(user_id=request.user.pk, tenant_id=speech_settings.tenant_id)


class ClientSecretSerializer(serializers.Serializer):
    """The mint answer's client_secret (from the provider's session)."""

    value = serializers.CharField(source="client_secret", help_text="The ephemeral secret: the SDP offer's bearer.")
    expires_at = serializers.IntegerField(help_text="When the secret stops opening calls (Unix seconds).")


class WebRTCSerializer(serializers.Serializer):
    """The mint answer's webrtc: where and how the browser negotiates."""

    url = serializers.CharField(source="webrtc_url", help_text="Where the browser posts its SDP offer.")
    data_channel = serializers.CharField(help_text="The name of the data channel carrying JSON events.")
    codecs = serializers.ListField(child=serializers.CharField(), help_text="Audio codecs, preferred first.")


class CallLimitsSerializer(serializers.Serializer):
    max_call_seconds = serializers.IntegerField(
        allow_null=True, help_text="The server ends the call after this long (null: no limit)."
    )
    idle_seconds = serializers.IntegerField(
        allow_null=True, help_text="The server ends the call after this long without speech (null: no limit)."
    )


class CallTicketSerializer(serializers.Serializer):
    """The mint answer's call: the gateway's record of the call this session opens (docs/calls.md)."""

    id = serializers.UUIDField(help_text="The call's id: GET /api/v1/calls/{id} once it is recorded.")
    ref = serializers.CharField(
        help_text="A signed reference to the call, bound to this tenant and caller; valid for the secret's "
        "lifetime plus a minute."
    )
    report_url = serializers.CharField(
        allow_null=True,
        help_text="Direct mode: POST {ref, provider_call_id} here once the provider's answer names the call "
        "(its Location header). null in unified mode: the gateway's relay learns the call id itself.",
    )
    limits = CallLimitsSerializer()


class RealtimeSessionApi(APIView):
    """POST /realtime_session: mint a short-lived client secret for the browser."""

    permission_classes = [CanMintSessions]
    throttle_classes = SESSION_THROTTLES

    def counts_against_limits(self, request):
        # In unified mode this answer mints nothing; the relayed call is what counts.
        return request.speech_settings.webrtc_mode != WebRTCMode.UNIFIED

    class InputSerializer(StrictSerializer):
        model = StringField(required=False, max_length=100, help_text="One of the tenant's allowed models.")
        voice = StringField(required=False, max_length=64, help_text="One of the tenant's allowed voices.")
        endpoint = StringField(
            required=False, max_length=500, help_text="Accepted only when it is the tenant's configured endpoint."
        )

    class OutputSerializer(serializers.Serializer):
        provider = serializers.CharField()
        model = serializers.CharField()
        voice = serializers.CharField()
        turn_mode = serializers.ChoiceField(
            choices=TurnMode.choices, help_text="push_to_talk when the session has no turn detection."
        )
        client_secret = serializers.SerializerMethodField()
        webrtc = serializers.SerializerMethodField()
        session = serializers.JSONField(source="minted.session", help_text="The provider's session configuration.")
        call = CallTicketSerializer()

        @extend_schema_field(ClientSecretSerializer(allow_null=True, help_text="null in unified mode."))
        def get_client_secret(self, payload):
            if payload.minted.client_secret is None:
                return None  # unified mode: the browser holds no secret
            return ClientSecretSerializer(payload.minted).data

        @extend_schema_field(WebRTCSerializer)
        def get_webrtc(self, payload):
            return WebRTCSerializer(payload.minted).data

    @extend_schema(
        operation_id="realtime_session_create",
        summary="Mint a realtime session",
        description=(
            "Answers a short-lived client secret and where to negotiate WebRTC with it; never the key. "
            "For a tenant in unified mode, `client_secret` is null and `webrtc.url` is the gateway's "
            "relay (POST the SDP offer there with the same credentials)."
        ),
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(*SESSION_ERRORS)},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        speech_settings = request.speech_settings
        requested = SessionRequest(**serializer.validated_data)
        preference = _preference(request, speech_settings)
        if speech_settings.webrtc_mode == WebRTCMode.UNIFIED:
            payload = realtime_relay_describe(
                speech_settings=speech_settings,
                actor=actor_for(request),
                requested=requested,
                relay_url=reverse("api-realtime-call"),
                preference=preference,
            )
        else:
            payload = realtime_session_create(
                speech_settings=speech_settings,
                actor=actor_for(request),
                requested=requested,
                preference=preference,
                report_url=reverse("api-call-report"),
            )
        return Response(self.OutputSerializer(payload).data)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"  # the answer carries a secret
        return response


class RealtimeCallApi(APIView):
    """POST /api/v1/realtime_call: the unified interface. The gateway posts the browser's SDP offer to the
    provider with the server key and answers the provider's SDP answer; the browser holds no secret."""

    permission_classes = [CanMintSessions]
    throttle_classes = SESSION_THROTTLES
    parser_classes = [SDPParser]

    class QuerySerializer(StrictSerializer):
        model = StringField(required=False, max_length=100)
        voice = StringField(required=False, max_length=64)
        call = StringField(required=False, max_length=500)

    @extend_schema(
        operation_id="realtime_call_create",
        summary="Relay a WebRTC offer (unified interface)",
        parameters=[
            OpenApiParameter("model", OpenApiTypes.STR, description="One of the tenant's allowed models."),
            OpenApiParameter("voice", OpenApiTypes.STR, description="One of the tenant's allowed voices."),
            OpenApiParameter(
                "call",
                OpenApiTypes.STR,
                description="The mint answer's `call.ref` (the relay URL carries it): the "
                "call to open. Without it the relay opens a new call; X-Call-Id names it.",
            ),
        ],
        request={"application/sdp": OpenApiTypes.STR},
        responses={
            (201, "application/sdp"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The provider's SDP answer; X-Realtime-Call-Id names the provider's call, X-Call-Id "
                "the gateway's record of it (GET /api/v1/calls/{id}).",
            ),
            **error_responses(
                *SESSION_ERRORS, "unified_mode_off", "call_ref_invalid", "call_ref_forbidden", "call_already_reported"
            ),  # fmt: skip
        },
    )
    def post(self, request):
        query = self.QuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        offer = request.data
        if not isinstance(offer, str):
            raise exceptions.ParseError("Send the SDP offer as application/sdp.")
        speech_settings = request.speech_settings
        requested = dict(query.validated_data)
        call_ref = requested.pop("call", None)
        relayed = realtime_call_create(
            speech_settings=speech_settings,
            actor=actor_for(request),
            requested=SessionRequest(**requested),
            offer_sdp=offer,
            preference=_preference(request, speech_settings),
            call_ref=call_ref,
        )
        response = HttpResponse(relayed.provider_call.answer_sdp, status=201, content_type="application/sdp")
        response["X-Realtime-Call-Id"] = relayed.provider_call.call_id
        response["X-Call-Id"] = relayed.call_id
        response["Cache-Control"] = "no-store"
        return response
