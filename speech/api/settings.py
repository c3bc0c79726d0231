"""GET/PATCH /api/v1/settings/speech: a tenant's speech settings."""

from django.core.exceptions import ValidationError as ModelValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.models import TurnDetection, WebRTCMode
from settings_admin.secrets import tenant_credential_status
from settings_admin.selectors import ApiKeyView, speech_settings_for_change
from settings_admin.services import speech_settings_update

from ..permissions import CanManageSettings
from ..schema import error_responses
from ..serializers import StrictSerializer, StringField
from ..throttling import SettingsWriteThrottle


def _validation_error(exc):
    return exceptions.ValidationError({field: list(messages) for field, messages in exc.message_dict.items()})


class SpeechSettingsApi(APIView):
    """GET/PATCH /api/v1/settings/speech: the tenant's effective speech settings."""

    permission_classes = [CanManageSettings]
    throttle_classes = [SettingsWriteThrottle]

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
        return Response(self.OutputSerializer(request.speech_settings).data)

    @extend_schema(
        operation_id="speech_settings_partial_update",
        summary="Change the tenant's speech settings",
        description="Validated like Django admin; a new provider brings its own defaults. Audited.",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **error_responses("not_a_member", "api_key_scope", "tenant_not_found", "rate_limited"),
        },
    )
    def patch(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        speech_settings = speech_settings_for_change(tenant_id=request.speech_settings.tenant_id)
        try:
            speech_settings_update(
                speech_settings=speech_settings,
                changes=serializer.validated_data,
                user=request.user,
                api_key=request.auth if isinstance(request.auth, ApiKeyView) else None,
            )
        except ModelValidationError as exc:
            raise _validation_error(exc) from None
        return Response(self.OutputSerializer(speech_settings).data)
