from django import forms
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join, json_script
from rest_framework import serializers

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
CREDENTIAL_FIELDS = ["api_key", "clear_api_key"]
# The URL name of the voice preview (the gateway routes it; without it the form offers no play button).
VOICE_PREVIEW_URL_NAME = "api-voice-preview"
CATALOG_ELEMENT_ID = "speech-provider-catalog"


def provider_catalog():
    """What the form's script needs to follow a change of provider: each provider's models, voices, defaults."""
    return {
        provider.id: {
            "name": provider.name,
            "models": list(provider.models),
            "voices": list(provider.voices),
            "default_model": provider.default_model,
            "default_voice": provider.default_voice,
        }
        for provider in registry.all()
    }


class ProviderSelect(forms.Select):
    """The provider's select, followed by the registry's catalog as a JSON data block (not a script: the page's
    Content-Security-Policy runs only the static speech-settings.js, which reads it)."""

    def render(self, name, value, attrs=None, renderer=None):
        select = super().render(name, value, {**(attrs or {}), "data-speech": "provider"}, renderer)
        return format_html("{}{}", select, json_script(provider_catalog(), CATALOG_ELEMENT_ID))


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


class VoiceSelect(forms.Select):
    """The voice's select, with a button that plays a sample of the chosen voice (speech-settings.js)."""

    preview_url = ""

    def render(self, name, value, attrs=None, renderer=None):
        select = super().render(name, value, attrs, renderer)
        if not self.preview_url:
            return select
        return format_html(
            '{}<button type="button" class="button speech-preview" data-preview-url="{}" '
            'aria-label="Play a sample of this voice">&#9654; Play</button>'
            '<span class="speech-preview-note" role="status"></span>'
            '<audio class="speech-preview-audio" hidden></audio>',
            select,
            self.preview_url,
        )


class CommaSeparatedField(forms.CharField):
    """A list of names, typed as "a, b, c"."""

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [item.strip() for item in (super().to_python(value) or "").split(",") if item.strip()]


class NameListField(forms.Field):
    """A list of names from a multiple select whose options follow the provider; the model's clean() checks them
    against the provider's catalog (a form that switched providers posts the new one's)."""

    widget = forms.SelectMultiple

    def to_python(self, value):
        if value in self.empty_values:
            return []
        if not isinstance(value, list | tuple):
            raise forms.ValidationError("Give a list of names.")
        return [str(item) for item in value]


BOOLEAN_CHOICES = [("", "Default"), ("true", "Yes"), ("false", "No")]


def option_form_field(field, provider):
    """A form field for one field of a provider's options serializer (an unset option is left out)."""
    label = f"{provider.name}: {field.field_name.replace('_', ' ')}"
    common = {"required": False, "help_text": str(field.help_text or ""), "label": label}
    if isinstance(field, serializers.ChoiceField):
        return forms.ChoiceField(choices=[("", "Default"), *((c, c) for c in field.choices)], **common)
    if isinstance(field, serializers.BooleanField):
        return forms.TypedChoiceField(
            choices=BOOLEAN_CHOICES, coerce=lambda value: value == "true", empty_value=None, **common
        )
    if isinstance(field, serializers.IntegerField | serializers.FloatField):
        cls = forms.IntegerField if isinstance(field, serializers.IntegerField) else forms.FloatField
        return cls(min_value=field.min_value, max_value=field.max_value, **common)
    return forms.CharField(max_length=getattr(field, "max_length", None), **common)


def option_field_name(provider_id, name):
    return f"options__{provider_id}__{name}"


def option_fields():
    """{form field name: (provider id, option name, form field)} for every provider's options."""
    found = {}
    for provider in registry.all():
        for name, field in provider.options_serializer().fields.items():
            form_field = option_form_field(field, provider)
            form_field.widget.attrs.update({"data-speech-option-of": provider.id})
            found[option_field_name(provider.id, name)] = (provider.id, name, form_field)
    return found


class SpeechSettingsForm(forms.ModelForm):
    """Offers the registry's providers and the chosen one's catalog and options (speech-settings.js follows a
    change of provider in the page); the model's clean() checks that they fit together.

    Build the class with speech_settings_form(), which adds a field per option of each provider (a
    provider's options serializer decides them, so they follow SPEECH_PROVIDERS).
    """

    endpoint = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=500,
        help_text=SpeechSettings._meta.get_field("endpoint").help_text,
    )

    api_key = forms.CharField(
        label="New API key",
        required=False,
        max_length=1024,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_api_key = forms.BooleanField(label="Remove the stored API key", required=False)

    # A store's refusal of the key on an earlier try of this same submission (admin.py sets it): the
    # form is shown again with it, and nothing is saved.
    credential_refused = None
    # {form field name: (provider id, option name)}: set by speech_settings_form().
    option_names = {}

    class Media:
        js = ["settings_admin/speech-settings.js"]
        css = {"all": ["settings_admin/speech-settings.css"]}

    class Meta:
        model = SpeechSettings
        fields = SETTINGS_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        provider = self._shown_provider()
        self.fields["provider"] = forms.ChoiceField(choices=registry.as_choices(), widget=ProviderSelect)
        self.fields["model"] = forms.CharField(
            max_length=100,
            widget=SuggestingTextInput(provider.models if provider else (), attrs={"data-speech": "model"}),
            help_text="A model of the provider (for Azure OpenAI: your deployment's name).",
        )
        voices = [(voice, voice) for voice in (provider.voices if provider else ())]
        voice_widget = VoiceSelect(choices=voices, attrs={"data-speech": "voice"})
        voice_widget.preview_url = self._preview_url()
        self.fields["voice"] = forms.CharField(max_length=64, widget=voice_widget)
        self.fields["allowed_models"] = CommaSeparatedField(
            required=False,
            max_length=2000,
            widget=SuggestingTextInput(provider.models if provider else (), attrs={"data-speech": "allowed_models"}),
            help_text=SpeechSettings._meta.get_field("allowed_models").help_text + " Comma separated.",
        )
        self.fields["allowed_voices"] = NameListField(
            required=False,
            widget=forms.SelectMultiple(choices=voices, attrs={"data-speech": "allowed_voices", "size": 6}),
            help_text=SpeechSettings._meta.get_field("allowed_voices").help_text,
        )
        # Options are edited through the generated fields; the JSON is what clean() makes of them.
        self.fields["options"].disabled = True
        self.fields["options"].widget = forms.HiddenInput()
        if not get_backend().writable:
            for name in CREDENTIAL_FIELDS:
                self.fields.pop(name, None)
        # The fields replaced here lost the model's defaults: a new tenant's form starts from them, and
        # compares with them to know what was changed.
        for name in ("provider", "model", "voice", "endpoint", "allowed_models", "allowed_voices"):
            self.fields[name].initial = getattr(self.instance, name)
        saved_options = self.instance.options if isinstance(self.instance.options, dict) else {}
        for field_name, (provider_id, option) in self.option_names.items():
            if field_name in self.fields and provider_id == self.instance.provider and option in saved_options:
                value = saved_options[option]
                self.fields[field_name].initial = ("true" if value else "false") if isinstance(value, bool) else value

    def _shown_provider(self):
        """The provider whose catalog the page shows: the one posted, else the saved one."""
        provider_id = self.data.get(self.add_prefix("provider")) if self.is_bound else None
        for candidate in (provider_id, self.instance.provider):
            try:
                return registry.get(candidate)
            except KeyError:
                continue
        return None

    def _preview_url(self):
        if self.instance.pk is None or self.instance.tenant_id is None:
            return ""  # a tenant not saved yet has no credential to speak with
        try:
            return reverse(VOICE_PREVIEW_URL_NAME, kwargs={"tenant": self.instance.tenant.slug})
        except NoReverseMatch:
            return ""

    def _options_posted(self, provider_id):
        """The chosen provider's options from their fields, leaving out those left at the default."""
        options = {}
        for field_name, (owner, option) in self.option_names.items():
            value = self.cleaned_data.get(field_name)
            if owner == provider_id and value not in (None, ""):
                options[option] = value
        return options

    def _options_check(self, provider_id, options):
        """Each option's messages on its own field; True when the provider's serializer takes them."""
        try:
            serializer = registry.get(provider_id).options_serializer(data=options)
        except KeyError:
            return True  # the model's clean() names an unknown provider
        if serializer.is_valid():
            return True
        for option, messages in serializer.errors.items():
            field_name = option_field_name(provider_id, option)
            target = field_name if field_name in self.fields else None
            self.add_error(target, [str(message) for message in messages])
        return False

    def clean(self):
        cleaned_data = super().clean()
        provider_id = cleaned_data.get("provider", self.instance.provider)
        options = self._options_posted(provider_id)
        if not self._options_check(provider_id, options):
            options = {}  # the messages are on the option fields; the model's check must not repeat them
        # The changes, as the API and the command give them to the service: only the fields that differ
        # from the saved row, and a new provider's defaults for those the form left as they were. The
        # instance is then validated (ModelForm's model validation) with exactly what will be saved.
        changed = [name for name in self.changed_data if name in SETTINGS_FIELDS and name in cleaned_data]
        changes = {name: cleaned_data[name] for name in changed}
        if options != (self.instance.options or {}):
            changes["options"] = options
        self.changes = provider_defaults_adopt(speech_settings=self.instance, changes=changes)
        cleaned_data.update(self.changes)
        if "options" in self.changes:
            # ModelForm leaves a field the page did not post (this one is never posted) at the instance's value.
            self.instance.options = self.changes["options"]
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


def speech_settings_form(base=SpeechSettingsForm):
    """`base` with a field per option of each registered provider, labelled with its provider."""
    fields = option_fields()
    attrs = {name: field for name, (_provider, _option, field) in fields.items()}
    attrs["option_names"] = {name: (provider_id, option) for name, (provider_id, option, _field) in fields.items()}
    return type(base.__name__, (base,), attrs)


def option_field_names():
    return list(option_fields())
