from django import forms
from django.utils.html import format_html, format_html_join

from .models import SpeechSettings
from .registry import ProviderNotFound, registry
from .secrets import SecretsError, credential_delete, credential_set, get_backend


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

    class Meta:
        model = SpeechSettings
        fields = [
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
            "credential_ref",
        ]

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

    def _post_clean(self):
        super()._post_clean()
        api_key, clear = self.cleaned_data.get("api_key"), self.cleaned_data.get("clear_api_key")
        if self.errors or not (api_key or clear):
            return
        # Written here, during validation, so a store that refuses it keeps the whole form unsaved.
        try:
            provider = self.instance.get_provider()
            reference = self.instance.credential_reference
            if api_key:
                credential_set(reference=reference, provider=provider, value=api_key)
            else:
                credential_delete(reference=reference, provider=provider)
        except ProviderNotFound:
            return  # already reported on the provider field
        except SecretsError as exc:
            self.add_error("api_key", f"The secrets store did not take the change: {exc}")
