from django import forms

from .models import SpeechSettings
from .registry import registry


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
        self.fields["model"] = forms.ChoiceField(choices=_catalog_choices("models"))
        self.fields["voice"] = forms.ChoiceField(choices=_catalog_choices("voices"))
        self.fields["allowed_models"] = forms.MultipleChoiceField(
            choices=_catalog_choices("models"),
            required=False,
            help_text=SpeechSettings._meta.get_field("allowed_models").help_text,
        )
        self.fields["allowed_voices"] = forms.MultipleChoiceField(
            choices=_catalog_choices("voices"),
            required=False,
            help_text=SpeechSettings._meta.get_field("allowed_voices").help_text,
        )
