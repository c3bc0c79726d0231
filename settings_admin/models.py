from django.core.exceptions import ValidationError
from django.core.validators import DomainNameValidator, MaxValueValidator, MinValueValidator
from django.db import models

from .registry import ProviderNotFound, registry

# The seed's defaults, moved to OpenAI's GA interface (the beta one is retired).
DEFAULT_PROVIDER = "openai_realtime"
DEFAULT_MODEL = "gpt-realtime"
DEFAULT_VOICE = "verse"
DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
SECRET_TTL_MIN, SECRET_TTL_MAX, SECRET_TTL_DEFAULT = 10, 7200, 600


class Tenant(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.name


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


class SpeechSettings(models.Model):
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
    credential_ref = models.CharField(
        "credential reference",
        max_length=255,
        blank=True,
        help_text="Where the provider credential lives (a Vault path). Blank: speech/tenants/<slug>/<provider>.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "speech settings"
        verbose_name_plural = "speech settings"

    def __str__(self):
        return f"Speech settings of {self.tenant}"

    def get_provider(self):
        return registry.get(self.provider)

    @property
    def effective_endpoint(self):
        return self.endpoint or self.get_provider().default_endpoint

    @property
    def credential_reference(self):
        return self.credential_ref or f"speech/tenants/{self.tenant.slug}/{self.provider}"

    @property
    def effective_allowed_models(self):
        return self.allowed_models or [self.model]

    @property
    def effective_allowed_voices(self):
        return self.allowed_voices or list(self.get_provider().voices)

    def clean(self):
        try:
            provider = self.get_provider()
        except ProviderNotFound:
            raise ValidationError({"provider": f"Unknown provider {self.provider!r}."}) from None
        errors = {}
        if self.model not in provider.models:
            errors["model"] = f"{self.model!r} is not a model of {provider.name}."
        if self.voice not in provider.voices:
            errors["voice"] = f"{self.voice!r} is not a voice of {provider.name}."
        for field, catalog in (("allowed_models", provider.models), ("allowed_voices", provider.voices)):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                errors[field] = "Give a list of names."
            elif unknown := sorted(set(value) - set(catalog)):
                errors[field] = f"Not offered by {provider.name}: {', '.join(unknown)}."
        if self.endpoint and (problem := provider.endpoint_problem(self.endpoint)):
            errors["endpoint"] = problem
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
        return notices
