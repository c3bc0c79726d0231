from django import forms
from django.utils.html import format_html, format_html_join

from .models import SpeechSettings
from .registry import registry
from .secrets import get_backend
from .services import provider_defaults_adopt

# The settings the form edits (the write-only key aside); saved through services.speech_settings_update.
SETTINGS_FIELDS = [
    "provider",
    "model",
    "voice",
    "endpoint",
    "allowed_models",
    "allowed_voices",
    "instructions",
    "turn_detection",
    "input_transcription_model",
    "secret_ttl_seconds",
    "options",
    "webrtc_mode",
    "credential_ref",
]


class SuggestingTextInput(forms.TextInput):
    """A text box offering suggestions (an HTML datalist) while accepting any value."""

    def __init__(self, suggestions, attrs=None):
        super().__init__(attrs)
        self.suggestions = suggestions

    def render(self, name, value, attrs=None, renderer=None):
        list_id = f"{(attrs or {}).get('id', name)}-suggestions"
        field = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join("", '<option value="{}">', ((s,) for s in self.suggestions))
        return format_html('{}<datalist id="{}">{}</datalist>', field, list_id, options)


class CommaSeparatedField(forms.CharField):
    """A list of names, typed as "a, b, c"."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [item.strip() for item in (super().to_python(value) or "").split(",") if item.strip()]


def _catalog_choices(attribute):
    """Choices grouped by provider, e.g. [("OpenAI Realtime", [("verse", "verse"), ...]), ...]."""
    return [(provider.name, [(name, name) for name in getattr(provider, attribute)]) for provider in registry.all()]


class SpeechSettingsForm(forms.ModelForm):
    """Offers the registry's providers and their catalogs; the model's clean() checks they fit together."""

    endpoint = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=500,
        help_text=SpeechSettings._meta.get_field("endpoint").help_text,
    )

    api_key = forms.CharField(
        label="API key",
        required=False,
        max_length=1024,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: saved to the secrets store at the credential reference and never shown again.",
    )
    clear_api_key = forms.BooleanField(label="Remove the stored API key", required=False)

    # A store's refusal of the key on an earlier try of this same submission (admin.py sets it): the
    # form is shown again with it, and nothing is saved.
    credential_refused = None

    class Meta:
        model = SpeechSettings
        fields = SETTINGS_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"] = forms.ChoiceField(choices=registry.as_choices())
        known_models = sorted({m for provider in registry.all() for m in provider.models})
        self.fields["model"] = forms.CharField(
            max_length=100,
            widget=SuggestingTextInput(known_models),
            help_text="A model of the provider (for Azure OpenAI: your deployment's name).",
        )
        self.fields["voice"] = forms.ChoiceField(choices=_catalog_choices("voices"))
        self.fields["allowed_models"] = CommaSeparatedField(
            required=False,
            max_length=2000,
            widget=SuggestingTextInput(known_models),
            help_text=SpeechSettings._meta.get_field("allowed_models").help_text + " Comma separated.",
        )
        if not get_backend().writable:
            for name in ("api_key", "clear_api_key"):
                self.fields[name].disabled = True
                self.fields[
                    name
                ].help_text = (
                    "Credentials come from the environment (OPENAI_API_KEY, ...); set VAULT_ADDR to manage them here."
                )
        self.fields["allowed_voices"] = forms.MultipleChoiceField(
            choices=_catalog_choices("voices"),
            required=False,
            help_text=SpeechSettings._meta.get_field("allowed_voices").help_text,
        )
        # The fields replaced here lost the model's defaults: a new tenant's form starts from them, and
        # compares with them to know what was changed.
        for name in ("provider", "model", "voice", "endpoint", "allowed_models", "allowed_voices"):
            self.fields[name].initial = getattr(self.instance, name)

    def clean(self):
        cleaned_data = super().clean()
        # The changes, as the API and the command give them to the service: only the fields that differ
        # from the saved row, and a new provider's defaults for those the form left as they were. The
        # instance is then validated (ModelForm's model validation) with exactly what will be saved.
        changed = [name for name in self.changed_data if name in SETTINGS_FIELDS and name in cleaned_data]
        changes = {name: cleaned_data[name] for name in changed}
        self.changes = provider_defaults_adopt(speech_settings=self.instance, changes=changes)
        cleaned_data.update(self.changes)
        if self.credential_refused and (cleaned_data.get("api_key") or cleaned_data.get("clear_api_key")):
            self.add_error(
                "api_key", f"The secrets store did not take the change, so nothing was saved: {self.credential_refused}"
            )
        return cleaned_data

    @property
    def credential_change(self):
        """The key change for speech_settings_update: {"credential": ...} or {"remove_credential": True}, or {}."""
        if api_key := self.cleaned_data.get("api_key"):
            return {"credential": api_key}
        return {"remove_credential": True} if self.cleaned_data.get("clear_api_key") else {}
