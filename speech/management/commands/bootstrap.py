import os
import secrets

from django.contrib.auth import get_user_model

from settings_admin.conf import conf
from settings_admin.management.base import FaultReportingCommand
from settings_admin.models import SpeechSettings


class Command(FaultReportingCommand):
    help = "First-run set-up for `make run`: an admin login (printed once). Safe to run again."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin login: already set up.")
        else:
            username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
            password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
            email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
            User.objects.create_superuser(username=username, email=email, password=password)
            shown = password if "DJANGO_SUPERUSER_PASSWORD" not in os.environ else "(from DJANGO_SUPERUSER_PASSWORD)"
            self.stdout.write(self.style.SUCCESS(f"Admin login created: {username} / {shown}  (shown once)"))
        default = SpeechSettings.objects.select_related("tenant").filter(tenant__slug=conf.SPEECH_DEFAULT_TENANT)
        for speech_settings in default:
            self.stdout.write(
                f"Default tenant: provider {speech_settings.provider}, model {speech_settings.model}, "
                f"voice {speech_settings.voice}."
            )
