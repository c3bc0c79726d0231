import re
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator, MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.html import escape
from rest_framework_api_key.models import AbstractAPIKey

from .conf import conf
from .registry import ProviderNotFound, registry

# The seed's defaults, moved to OpenAI's GA interface (the beta one is retired).
DEFAULT_PROVIDER = "openai_realtime"
DEFAULT_MODEL = "gpt-realtime"
DEFAULT_VOICE = "verse"
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
SECRET_TTL_MIN, SECRET_TTL_MAX, SECRET_TTL_DEFAULT = 10, 7200, 600


# A count per period: "30/m", "5/10s", "1000/d"; blank for no limit (read by speech.throttling.rate_parse).
RATE_FORMAT = RegexValidator(r"^\d+/\d*[smhd]$", "Give a rate such as 30/m, 5/10s or 1000/d.")
ORIGIN_FORMAT = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?$")
# A credential's path inside the tenant's own folder: plain names, no empty or dot segments.
CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


def rate_field(default, help_text):
    return models.CharField(max_length=20, blank=True, default=default, validators=[RATE_FORMAT], help_text=help_text)


class TenantRules:
    """What a tenant's fields mean: shared by the model and its frozen read model (selectors.TenantView)."""

    @property
    def may_use_shared_credentials(self):
        return self.shared_credentials or self.slug == conf.SPEECH_DEFAULT_TENANT

    def allows_origin(self, origin):
        return origin.lower().rstrip("/") in self.allowed_origins


class Tenant(TenantRules, models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    allow_anonymous_sessions = models.BooleanField(
        default=False, help_text="Let people who are not logged in talk, under the anonymous rate limit."
    )
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Web origins whose pages may call the API from the browser, e.g. ["https://app.example.com"].',
    )
    shared_credentials = models.BooleanField(
        "may use the shared provider keys",
        default=False,
        help_text="Mint with the operator's keys from the environment (OPENAI_API_KEY, ...). The default "
        "tenant always may; only superusers can grant it to others. Without it, the tenant needs its own key.",
    )
    rate_limit_user = rate_field("30/m", "Sessions per logged-in user.")
    rate_limit_api_key = rate_field("120/m", "Sessions per API key.")
    rate_limit_anonymous = rate_field("5/m", "Sessions per client IP without login (anonymous sessions).")
    rate_limit_tenant = rate_field("600/m", "Sessions of the whole tenant.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name

    def clean(self):
        origins = self.allowed_origins
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise ValidationError({"allowed_origins": "Give a list of origins."})
        self.allowed_origins = [origin.strip().lower().rstrip("/") for origin in origins]
        bad = [origin for origin in self.allowed_origins if not ORIGIN_FORMAT.match(origin)]
        if bad:
            raise ValidationError(
                {"allowed_origins": f"Not an origin (scheme://host[:port], no path): {', '.join(bad)}."}
            )


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    ADMIN = "admin", "Tenant admin"


class Membership(models.Model):
    """A user belongs to a tenant as a member (may talk) or an admin (may also change its settings)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_tenant")]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.role})"


class KeyScope(models.TextChoices):
    SESSIONS = "sessions", "Mint sessions"
    ADMIN = "admin", "Mint sessions and manage settings"


class TenantAPIKey(AbstractAPIKey):
    """An integrator's key (hashed at rest, shown once, prefix visible), sent as `Authorization: Api-Key ...`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    scope = models.CharField(max_length=10, choices=KeyScope.choices, default=KeyScope.SESSIONS)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class TenantHostname(models.Model):
    """A host name (no port) whose requests belong to the tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="hostnames")
    hostname = models.CharField(max_length=253, unique=True, validators=[DomainNameValidator()])

    class Meta:
        ordering = ["hostname"]

    def __str__(self):
        return self.hostname

    def clean(self):
        self.hostname = self.hostname.strip().lower().rstrip(".")


class TurnDetection(models.TextChoices):
    SERVER_VAD = "server_vad", "Server voice activity detection"
    SEMANTIC_VAD = "semantic_vad", "Semantic voice activity detection"
    NONE = "none", "None (push-to-talk)"


class WebRTCMode(models.TextChoices):
    DIRECT = "direct", "Direct: the browser gets a short-lived client secret"
    UNIFIED = "unified", "Unified: the gateway relays the browser's offer; the browser holds no secret"


class SpeechSettingsRules:
    """What a tenant's speech settings mean (the provider, effective values, warnings): shared by the model and
    its frozen read model (selectors.SpeechSettingsView)."""

    def get_provider(self):
        return registry.get(self.provider)

    @property
    def effective_endpoint(self):
        return self.endpoint or self.get_provider().default_endpoint

    @property
    def credential_reference(self):
        # Always inside the tenant's own folder: no reference can name another tenant's key.
        return f"speech/tenants/{self.tenant.slug}/{self.credential_ref or self.provider}"

    @property
    def effective_allowed_models(self):
        return self.allowed_models or [self.model]

    @property
    def effective_allowed_voices(self):
        return self.allowed_voices or list(self.get_provider().voices)

    def warnings(self):
        """Notices about values that still validate but will not work well (retired interfaces)."""
        try:
            provider = self.get_provider()
        except ProviderNotFound:
            return []
        notices = []
        if reason := provider.deprecated_models.get(self.model):
            notices.append(f"Model {self.model!r}: {reason}")
        if reason := provider.retired_endpoints.get(self.endpoint):
            notices.append(f"Endpoint {self.endpoint}: {reason}")
        if isinstance(self.options, Mapping):
            notices.extend(provider.option_warnings(self.options))
        return notices


class SpeechSettings(SpeechSettingsRules, models.Model):
    """How a tenant's sessions are minted. Holds a reference to the credential, never the key."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="speech_settings")
    provider = models.CharField(max_length=64, default=DEFAULT_PROVIDER)
    model = models.CharField(max_length=100, default=DEFAULT_MODEL)
    voice = models.CharField(max_length=64, default=DEFAULT_VOICE)
    endpoint = models.URLField(
        max_length=500, blank=True, help_text="Where secrets are minted. Blank: the provider's default."
    )
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Models a request may ask for. Empty: only the model above."
    )
    allowed_voices = models.JSONField(
        default=list, blank=True, help_text="Voices a request may ask for. Empty: every voice of the provider."
    )
    instructions = models.TextField(blank=True, max_length=20000)
    turn_detection = models.CharField(max_length=20, choices=TurnDetection.choices, default=TurnDetection.SERVER_VAD)
    input_transcription_model = models.CharField(
        max_length=100,
        blank=True,
        default=DEFAULT_TRANSCRIPTION_MODEL,
        help_text="Transcribes the user's speech for the transcript. Blank: no user transcript.",
    )
    secret_ttl_seconds = models.PositiveIntegerField(
        "client secret lifetime (seconds)",
        default=SECRET_TTL_DEFAULT,
        validators=[MinValueValidator(SECRET_TTL_MIN), MaxValueValidator(SECRET_TTL_MAX)],
    )
    options = models.JSONField(default=dict, blank=True, help_text="Provider-specific options.")
    webrtc_mode = models.CharField("WebRTC mode", max_length=10, choices=WebRTCMode.choices, default=WebRTCMode.DIRECT)
    credential_ref = models.CharField(
        "credential name",
        max_length=200,
        blank=True,
        # Admin shows help texts as HTML: escaped, <slug> reads as itself rather than as a tag.
        help_text=escape(
            "The credential's name in the tenant's own folder of the secrets store: speech/tenants/<slug>/<name>. "
            "Blank: the provider's id."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "speech settings"
        verbose_name_plural = "speech settings"

    def __str__(self):
        return f"Speech settings of {self.tenant}"

    def clean(self):
        try:
            provider = self.get_provider()
        except ProviderNotFound:
            raise ValidationError({"provider": f"Unknown provider {self.provider!r}."}) from None
        errors = {}
        if problem := provider.model_problem(self.model):
            errors["model"] = problem
        if problem := provider.voice_problem(self.voice):
            errors["voice"] = problem
        for field, problem_of in (
            ("allowed_models", provider.model_problem),
            ("allowed_voices", provider.voice_problem),
        ):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                errors[field] = "Give a list of names."
            elif problems := [problem for item in value if (problem := problem_of(item))]:
                errors[field] = " ".join(problems)
        options = self.options if isinstance(self.options, dict) else {}
        if self.endpoint and (problem := provider.endpoint_problem(self.endpoint, options)):
            errors["endpoint"] = problem
        elif not self.endpoint and not provider.default_endpoint:
            errors["endpoint"] = f"{provider.name} has no default endpoint: give your resource's."
        if self.credential_ref and not CREDENTIAL_NAME.match(self.credential_ref):
            errors["credential_ref"] = "Give a name such as openai or keys/openai (letters, digits, '-', '_', '/')."
        if self.webrtc_mode == WebRTCMode.UNIFIED and not provider.supports_unified:
            errors["webrtc_mode"] = f"{provider.name} does not support the unified interface."
        if not isinstance(self.options, dict):
            errors["options"] = "Give a JSON object."
        else:
            serializer = provider.options_serializer(data=self.options)
            if not serializer.is_valid():
                errors["options"] = [
                    f"{name}: {' '.join(str(m) for m in messages)}" for name, messages in serializer.errors.items()
                ]
        if errors:
            raise ValidationError(errors)


class TurnMode(models.TextChoices):
    VOICE_ACTIVITY = "voice_activity", "Voice activity"
    PUSH_TO_TALK = "push_to_talk", "Push to talk"


class UserPreference(models.Model):
    """What a user picked for their next sessions in a tenant, among what the tenant allows."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="speech_preferences")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="user_preferences")
    voice = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=100, blank=True)
    turn_mode = models.CharField(max_length=20, choices=TurnMode.choices, default=TurnMode.VOICE_ACTIVITY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="one_preference_per_tenant")]

    def __str__(self):
        return f"{self.user} in {self.tenant}: {self.voice or '-'} / {self.model or '-'} / {self.turn_mode}"


class SettingsChange(models.Model):
    """Who changed which speech settings of a tenant, and how (old and new values, never a key)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="settings_changes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    api_key_prefix = models.CharField(max_length=16, blank=True)
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.tenant}: {', '.join(self.changes)}"


class SettingsGeneration(models.Model):
    """One row: a number that every committed change of the settings bumps (settings_admin.generation)."""

    value = models.BigIntegerField()

    def __str__(self):
        return str(self.value)
