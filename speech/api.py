from django.core.exceptions import ValidationError as ModelValidationError
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.models import Role, TenantAPIKey, TurnDetection, TurnMode, UserPreference, WebRTCMode
from settings_admin.registry import registry
from settings_admin.secrets import tenant_credential_status
from settings_admin.selectors import speech_settings_for_change, user_preference_get
from settings_admin.services import speech_settings_update

from . import metrics
from .parsers import SDPParser
from .permissions import CanManageSettings, CanMintSessions, IsTenantUser
from .schema import error_responses
from .serializers import StrictSerializer, StringField, serializer_field_schema
from .services import (
    Actor,
    SessionRequest,
    realtime_call_create,
    realtime_relay_describe,
    realtime_session_create,
    session_choices_resolve,
)
from .tenancy import speech_settings_for_request, user_role
from .throttling import SESSION_THROTTLES, TelemetryRateThrottle, client_ip


def actor_for(request):
    return Actor(
        user=request.user if request.user.is_authenticated else None,
        api_key=request.auth if isinstance(request.auth, TenantAPIKey) else None,
        client_ip=client_ip(request),
    )


SESSION_ERRORS = (
    "not_a_member", "api_key_wrong_tenant", "tenant_not_found", "model_not_allowed", "voice_not_allowed",
    "endpoint_not_allowed", "rate_limited", "credentials_missing", "secrets_unavailable", "secrets_auth_failed",
    "provider_auth_failed", "provider_rejected", "provider_unavailable", "provider_bad_response",
    "provider_rate_limited", "provider_timeout",
)  # fmt: skip


def _preference(request, speech_settings):
    if not request.user.is_authenticated:
        return None
    return user_preference_get(user_id=request.user.pk, tenant_id=speech_settings.tenant_id)


class RealtimeSessionApi(APIView):
    """POST /realtime_session: mint a short-lived client secret for the browser."""

    permission_classes = [CanMintSessions]
    throttle_classes = SESSION_THROTTLES

    def counts_against_limits(self, request):
        # In unified mode this answer mints nothing; the relayed call is what counts.
        return speech_settings_for_request(request).webrtc_mode != WebRTCMode.UNIFIED

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

        def get_client_secret(self, payload) -> dict[str, str | int] | None:
            if payload.minted.client_secret is None:
                return None  # unified mode: the browser holds no secret
            return {"value": payload.minted.client_secret, "expires_at": payload.minted.expires_at}

        def get_webrtc(self, payload) -> dict[str, str | list[str]]:
            return {
                "url": payload.minted.webrtc_url,
                "data_channel": payload.minted.data_channel,
                "codecs": list(payload.minted.codecs),
            }

        def to_representation(self, payload):
            # The fields above document the shape; building it directly spares the hot path a copy
            # of six field objects per answer (DRF copies declared fields for every serializer).
            return {
                "provider": payload.provider,
                "model": payload.model,
                "voice": payload.voice,
                "turn_mode": payload.turn_mode,
                "client_secret": self.get_client_secret(payload),
                "webrtc": self.get_webrtc(payload),
                "session": payload.minted.session,
            }

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
        speech_settings = speech_settings_for_request(request)
        requested = SessionRequest(**serializer.validated_data)
        preference = _preference(request, speech_settings)
        if speech_settings.webrtc_mode == WebRTCMode.UNIFIED:
            payload = realtime_relay_describe(
                speech_settings=speech_settings,
                requested=requested,
                relay_url=reverse("api-realtime-call"),
                preference=preference,
            )
        else:
            payload = realtime_session_create(
                speech_settings=speech_settings, actor=actor_for(request), requested=requested, preference=preference
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

    @extend_schema(
        operation_id="realtime_call_create",
        summary="Relay a WebRTC offer (unified interface)",
        parameters=[
            OpenApiParameter("model", OpenApiTypes.STR, description="One of the tenant's allowed models."),
            OpenApiParameter("voice", OpenApiTypes.STR, description="One of the tenant's allowed voices."),
        ],
        request={"application/sdp": OpenApiTypes.STR},
        responses={
            (201, "application/sdp"): OpenApiResponse(
                OpenApiTypes.STR, description="The provider's SDP answer; X-Realtime-Call-Id names the call."
            ),
            **error_responses(*SESSION_ERRORS, "unified_mode_off"),
        },
    )
    def post(self, request):
        query = self.QuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        offer = request.data
        if not isinstance(offer, str):
            raise exceptions.ParseError("Send the SDP offer as application/sdp.")
        speech_settings = speech_settings_for_request(request)
        call = realtime_call_create(
            speech_settings=speech_settings,
            actor=actor_for(request),
            requested=SessionRequest(**query.validated_data),
            offer_sdp=offer,
            preference=_preference(request, speech_settings),
        )
        response = HttpResponse(call.answer_sdp, status=201, content_type="application/sdp")
        response["X-Realtime-Call-Id"] = call.call_id
        response["Cache-Control"] = "no-store"
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


class ProvidersApi(APIView):
    """GET /api/v1/providers: the providers this gateway offers, with their catalogs and options."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        name = serializers.CharField()
        models = serializers.ListField(child=serializers.CharField())
        voices = serializers.ListField(child=serializers.CharField())
        default_model = serializers.CharField()
        default_voice = serializers.CharField()
        default_endpoint = serializers.CharField()
        deprecated_models = serializers.DictField(child=serializers.CharField())
        options = serializers.SerializerMethodField(help_text="JSON Schema of the provider's options.")

        def get_options(self, provider) -> dict:
            return serializer_field_schema(provider.options_serializer())

    @extend_schema(
        operation_id="providers_list",
        summary="List providers",
        responses={200: OutputSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        return Response(self.OutputSerializer(registry.all(), many=True).data)


def _validation_error(exc):
    return exceptions.ValidationError({field: list(messages) for field, messages in exc.message_dict.items()})


class SpeechSettingsApi(APIView):
    """GET/PATCH /api/v1/settings/speech: the tenant's effective speech settings."""

    permission_classes = [CanManageSettings]

    class OutputSerializer(serializers.Serializer):
        tenant = serializers.CharField(source="tenant.slug")
        provider = serializers.CharField()
        model = serializers.CharField()
        voice = serializers.CharField()
        endpoint = serializers.CharField(source="effective_endpoint")
        allowed_models = serializers.ListField(child=serializers.CharField(), source="effective_allowed_models")
        allowed_voices = serializers.ListField(child=serializers.CharField(), source="effective_allowed_voices")
        instructions = serializers.CharField()
        turn_detection = serializers.ChoiceField(choices=TurnDetection.choices)
        input_transcription_model = serializers.CharField()
        secret_ttl_seconds = serializers.IntegerField()
        options = serializers.DictField()
        webrtc_mode = serializers.ChoiceField(choices=WebRTCMode.choices)
        credential = serializers.SerializerMethodField(help_text="Whether the provider key resolves; never the key.")
        warnings = serializers.ListField(child=serializers.CharField(), help_text="Retired or deprecated values.")

        def get_credential(self, speech_settings) -> str:
            state = tenant_credential_status(speech_settings=speech_settings).state
            return {"set": "set", "missing": "not_set"}.get(state, state)

    class InputSerializer(StrictSerializer):
        provider = StringField(required=False, max_length=64)
        model = StringField(required=False, max_length=100)
        voice = StringField(required=False, max_length=64)
        endpoint = serializers.CharField(required=False, allow_blank=True, max_length=500)
        allowed_models = serializers.ListField(child=StringField(max_length=100), required=False, max_length=50)
        allowed_voices = serializers.ListField(child=StringField(max_length=64), required=False, max_length=50)
        instructions = serializers.CharField(required=False, allow_blank=True, max_length=20000)
        turn_detection = serializers.ChoiceField(choices=TurnDetection.choices, required=False)
        input_transcription_model = serializers.CharField(required=False, allow_blank=True, max_length=100)
        secret_ttl_seconds = serializers.IntegerField(required=False, min_value=10, max_value=7200)
        options = serializers.DictField(required=False)
        webrtc_mode = serializers.ChoiceField(choices=WebRTCMode.choices, required=False)

    @extend_schema(
        operation_id="speech_settings_retrieve",
        summary="Read the tenant's speech settings",
        responses={200: OutputSerializer, **error_responses("not_a_member", "api_key_scope", "tenant_not_found")},
    )
    def get(self, request):
        return Response(self.OutputSerializer(speech_settings_for_request(request)).data)

    @extend_schema(
        operation_id="speech_settings_partial_update",
        summary="Change the tenant's speech settings",
        description="Validated like Django admin; a new provider brings its own defaults. Audited.",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses("not_a_member", "api_key_scope", "tenant_not_found")},
    )
    def patch(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        speech_settings = speech_settings_for_change(tenant_id=speech_settings_for_request(request).tenant_id)
        try:
            speech_settings_update(
                speech_settings=speech_settings,
                changes=serializer.validated_data,
                user=request.user,
                api_key=request.auth if isinstance(request.auth, TenantAPIKey) else None,
            )
        except ModelValidationError as exc:
            raise _validation_error(exc) from None
        return Response(self.OutputSerializer(speech_settings).data)


class MyPreferencesApi(APIView):
    """GET/PUT /api/v1/settings/me: the voice, model and turn mode of the user's next sessions."""

    permission_classes = [IsTenantUser]

    class OutputSerializer(serializers.Serializer):
        voice = serializers.CharField(help_text="What the next session uses.")
        model = serializers.CharField()
        turn_mode = serializers.ChoiceField(choices=TurnMode.choices)
        allowed_voices = serializers.ListField(child=serializers.CharField())
        allowed_models = serializers.ListField(child=serializers.CharField())
        tenant_admin = serializers.BooleanField(help_text="Whether the user may change the tenant's settings.")

    class InputSerializer(StrictSerializer):
        voice = StringField(required=False, allow_blank=True, max_length=64, help_text="Blank: the tenant's.")
        model = StringField(required=False, allow_blank=True, max_length=100, help_text="Blank: the tenant's.")
        turn_mode = serializers.ChoiceField(choices=TurnMode.choices, required=False)

    def _answer(self, request, speech_settings, preference):
        choices = session_choices_resolve(speech_settings=speech_settings, preference=preference)
        return Response(
            self.OutputSerializer(
                {
                    "voice": choices.voice,
                    "model": choices.model,
                    "turn_mode": choices.turn_mode,
                    "allowed_voices": speech_settings.effective_allowed_voices,
                    "allowed_models": speech_settings.effective_allowed_models,
                    "tenant_admin": user_role(request.user, speech_settings.tenant) == Role.ADMIN,
                }
            ).data
        )

    @extend_schema(
        operation_id="my_preferences_retrieve",
        summary="Read my preferences",
        responses={200: OutputSerializer, **error_responses("not_a_member", "tenant_not_found")},
    )
    def get(self, request):
        speech_settings = speech_settings_for_request(request)
        preference = user_preference_get(user_id=request.user.pk, tenant_id=speech_settings.tenant_id)
        return self._answer(request, speech_settings, preference)

    @extend_schema(
        operation_id="my_preferences_update",
        summary="Choose my voice, model and turn mode for my next sessions",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses("not_a_member", "tenant_not_found")},
    )
    def put(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        speech_settings = speech_settings_for_request(request)
        choice = serializer.validated_data
        problems = {}
        if choice.get("voice") and choice["voice"] not in speech_settings.effective_allowed_voices:
            problems["voice"] = ["This voice is not allowed for this tenant."]
        if choice.get("model") and choice["model"] not in speech_settings.effective_allowed_models:
            problems["model"] = ["This model is not allowed for this tenant."]
        if problems:
            raise exceptions.ValidationError(problems)
        preference, _ = UserPreference.objects.update_or_create(
            user=request.user, tenant_id=speech_settings.tenant_id, defaults=choice
        )
        return self._answer(request, speech_settings, preference)
