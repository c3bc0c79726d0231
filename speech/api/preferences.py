"""GET/PUT /api/v1/settings/me: a user's choices for their next sessions."""

from django.core.exceptions import ValidationError as ModelValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from settings_admin.models import Role, TurnMode
from settings_admin.selectors import user_preference_get
from settings_admin.services import user_preference_set

from ..permissions import IsTenantUser
from ..schema import error_responses
from ..serializers import StrictSerializer, StringField
from ..services import (
    session_choices_resolve,
)
from ..tenancy import user_role
from ..throttling import SettingsWriteThrottle


class MyPreferencesApi(APIView):
    """GET/PUT /api/v1/settings/me: the voice, model and turn mode of the user's next sessions."""

    permission_classes = [IsTenantUser]
    throttle_classes = [SettingsWriteThrottle]

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
        speech_settings = request.speech_settings
        preference = user_preference_get(user_id=request.user.pk, tenant_id=speech_settings.tenant_id)
        return self._answer(request, speech_settings, preference)

    @extend_schema(
        operation_id="my_preferences_update",
        summary="Choose my voice, model and turn mode for my next sessions",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses("not_a_member", "tenant_not_found", "rate_limited")},
    )
    def put(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        speech_settings = request.speech_settings
        try:
            preference = user_preference_set(
                user=request.user, speech_settings=speech_settings, choice=serializer.validated_data
            )
        except ModelValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict) from None
        return self._answer(request, speech_settings, preference)
