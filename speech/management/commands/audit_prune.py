from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from settings_admin.management.base import FaultReportingCommand
from settings_admin.models import SettingsChange
from speech.models import SessionAudit


class Command(FaultReportingCommand):
    help = (
        "Delete session audit records and settings-change records older than the retention period "
        "(SPEECH_AUDIT_RETENTION_DAYS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="keep this many days instead of the setting")

    def handle(self, *args, days=None, **options):
        days = settings.SPEECH_AUDIT_RETENTION_DAYS if days is None else days
        if days < 0:
            self.stderr.write("--days must be 0 or more.")
            return
        cutoff = timezone.now() - timedelta(days=days)
        sessions, _ = SessionAudit.objects.filter(created_at__lt=cutoff).delete()
        changes, _ = SettingsChange.objects.filter(created_at__lt=cutoff).delete()
        self.stdout.write(
            f"Deleted {sessions} session audit records and {changes} settings-change records older than {days} days."
        )
