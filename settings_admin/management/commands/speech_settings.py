import json
import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import transaction

from settings_admin.management.base import FaultReportingCommand
from settings_admin.models import SpeechSettings, Tenant, WebRTCMode
from settings_admin.services import speech_settings_update

# option name -> model field; list-valued options are comma separated
FIELDS = {
    "provider": "provider",
    "model": "model",
    "voice": "voice",
    "endpoint": "endpoint",
    "instructions": "instructions",
    "turn_detection": "turn_detection",
    "transcription_model": "input_transcription_model",
    "secret_ttl": "secret_ttl_seconds",
    "allowed_models": "allowed_models",
    "allowed_voices": "allowed_voices",
    "options": "options",
    "webrtc_mode": "webrtc_mode",
    "credential_ref": "credential_ref",
}
SHOWN = [
    "provider",
    "model",
    "voice",
    "endpoint",
    "effective_endpoint",
    "allowed_models",
    "allowed_voices",
    "turn_detection",
    "input_transcription_model",
    "secret_ttl_seconds",
    "instructions",
    "options",
    "webrtc_mode",
    "credential_reference",
]


def _comma_list(value):
    return [item.strip() for item in value.split(",") if item.strip()]


def _json_object(value):
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--options is not valid JSON: {exc}") from None


class Command(FaultReportingCommand):
    help = "Show a tenant's speech settings, or change them (validated like the admin)."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="the tenant's slug")
        parser.add_argument("--create", action="store_true", help="create the tenant if it does not exist")
        parser.add_argument("--name", help="the tenant's display name (with --create)")
        parser.add_argument("--provider")
        parser.add_argument("--model")
        parser.add_argument("--voice")
        parser.add_argument("--endpoint", help="blank ('') for the provider's default")
        parser.add_argument("--instructions")
        parser.add_argument("--turn-detection", choices=["server_vad", "semantic_vad", "none"])
        parser.add_argument("--transcription-model", help="blank ('') for no user transcript")
        parser.add_argument("--secret-ttl", type=int, help="client secret lifetime, 10..7200 seconds")
        parser.add_argument("--allowed-models", type=_comma_list, help="comma separated; '' for the model only")
        parser.add_argument("--allowed-voices", type=_comma_list, help="comma separated; '' for all voices")
        parser.add_argument("--options", type=_json_object, help="provider options as a JSON object")
        parser.add_argument(
            "--webrtc-mode",
            choices=WebRTCMode.values,
            help="direct: the browser gets a client secret; unified: the gateway relays the browser's offer",
        )
        parser.add_argument("--credential-ref", help="where the credential lives (a Vault path)")

    def handle(self, *args, tenant, create, name, **options):
        changes = {FIELDS[key]: value for key, value in options.items() if key in FIELDS and value is not None}
        with transaction.atomic():
            speech_settings = self._load(tenant, create=create, name=name)
            if changes:
                try:
                    speech_settings_update(speech_settings=speech_settings, changes=changes)
                except ValidationError as exc:
                    lines = [f"  {field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
                    raise CommandError("Invalid settings:\n" + "\n".join(lines)) from None
        # Printed after the commit: "Saved" means saved, and a reader that leaves early (`| head`)
        # can no longer roll the change back.
        try:
            self._report(speech_settings, saved=bool(changes))
        except BrokenPipeError:
            # The change is saved; only its report is lost. As Python's documentation advises, point
            # stdout at /dev/null so the flush at exit does not fail again, and exit with 1.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)

    def _report(self, speech_settings, *, saved):
        if saved:
            self.stdout.write(self.style.SUCCESS(f"Saved speech settings of {speech_settings.tenant.slug}."))
        for notice in speech_settings.warnings():
            self.stderr.write(self.style.WARNING(f"Warning: {notice}"))
        for attribute in SHOWN:
            value = getattr(speech_settings, attribute)
            self.stdout.write(f"{attribute:26} {json.dumps(value) if isinstance(value, (list, dict)) else value}")
        self.stdout.flush()  # a closed pipe shows here, not at exit

    def _load(self, slug, *, create, name):
        try:
            tenant = Tenant.objects.get(slug=slug)
        except Tenant.DoesNotExist:
            if not create:
                raise CommandError(f"No tenant {slug!r}. Use --create to make it.") from None
            tenant = Tenant(slug=slug, name=name or slug)
            try:
                tenant.full_clean()
            except ValidationError as exc:
                raise CommandError(f"Invalid tenant: {exc.messages}") from None
            tenant.save()
        speech_settings, _ = SpeechSettings.objects.get_or_create(tenant=tenant)
        return speech_settings
