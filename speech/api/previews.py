"""POST /api/v1/tenants/{tenant}/voice_preview: hear a voice before choosing it."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from settings_admin.models import KeyScope, Role
from settings_admin.selectors import ApiKeyView, speech_settings_for_slug

from .. import errors
from ..previews import voice_preview_create
from ..schema import error_responses
from ..serializers import StrictSerializer, StringField
from ..tenancy import MANAGE_EVERY_TENANT, user_role
from ..throttling import VoicePreviewThrottle


class CanManageNamedTenant(permissions.BasePermission):
    """The admins of the tenant the path names (its members with the admin role, superusers, holders of the
    operator's grant) and its admin-scoped API keys: who may change its settings may hear its voices.

    Whoever may not learns nothing about which tenants exist: an unknown name is refused as another's is."""

    def has_permission(self, request, view):
        speech_settings = view.tenant_settings()
        if isinstance(request.auth, ApiKeyView):
            if request.auth.scope != KeyScope.ADMIN:
                raise errors.ApiKeyScope()
            if speech_settings is None or request.auth.tenant_id != speech_settings.tenant_id:
                raise errors.ApiKeyWrongTenant("This API key belongs to another tenant than the one named.")
            return True
        user = request.user
        if not user.is_authenticated:
            raise exceptions.NotAuthenticated()
        if speech_settings is None:
            if user.is_superuser or user.has_perm(MANAGE_EVERY_TENANT):
                raise errors.TenantNotFound("No active tenant has this name.")
        elif user_role(user, speech_settings.tenant) == Role.ADMIN:
            return True
        raise errors.NotAMember("Only the tenant's admins may hear its voices.")


class VoicePreviewApi(APIView):
    """POST /api/v1/tenants/{tenant}/voice_preview: a short sample of a voice, as WAV."""

    permission_classes = [CanManageNamedTenant]
    throttle_classes = [VoicePreviewThrottle]

    class InputSerializer(StrictSerializer):
        voice = StringField(max_length=64, help_text="A voice of the provider.")
        provider = StringField(
            required=False,
            max_length=64,
            help_text="Another provider than the saved one, as a settings form switching to it would save it "
            "(its default endpoint, no options). Default: the tenant's provider.",
        )

    def tenant_settings(self):
        """The SpeechSettingsView of the tenant the path names, or None."""
        if not hasattr(self, "_tenant_settings"):
            self._tenant_settings = speech_settings_for_slug(slug=self.kwargs["tenant"])
        return self._tenant_settings

    @extend_schema(
        operation_id="voice_preview_create",
        summary="Hear a voice",
        description="A short sample in the voice, from the provider's text-to-speech with the tenant's own "
        "credential (the local provider: espeak-ng), cached per provider, voice and text; rate limited per user "
        "or key (SPEECH_VOICE_PREVIEW_RATE).",
        request=InputSerializer,
        responses={
            (200, "audio/wav"): OpenApiResponse(OpenApiTypes.BINARY, description="The sample, a WAV file."),
            **error_responses(
                "not_a_member", "api_key_scope", "api_key_wrong_tenant", "tenant_not_found", "rate_limited",
                "voice_not_allowed", "preview_unavailable", "endpoint_not_allowed", "credentials_missing",
                "secrets_unavailable", "secrets_auth_failed", "provider_auth_failed", "provider_rejected",
                "provider_unavailable", "provider_bad_response", "provider_response_too_large",
                "provider_rate_limited", "provider_timeout",
                "provider_calls_limited", "server_busy",
            ),  # fmt: skip
        },
    )
    def post(self, request, tenant):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preview = voice_preview_create(
            speech_settings=self.tenant_settings(),
            voice=serializer.validated_data["voice"],
            provider_id=serializer.validated_data.get("provider"),
        )
        response = HttpResponse(preview.audio, content_type=preview.content_type)
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Preview-Cache"] = "hit" if preview.cached else "miss"
        return response
