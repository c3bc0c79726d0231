from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from settings_admin.management.base import FaultReportingCommand
from speech.models import SessionAudit


class Command(FaultReportingCommand):
    help = "Delete session audit records older than the retention period (SPEECH_AUDIT_RETENTION_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="keep this many days instead of the setting")

    def handle(self, *args, days=None, **options):
        days = settings.SPEECH_AUDIT_RETENTION_DAYS if days is None else days
        if days < 0:
            self.stderr.write("--days must be 0 or more.")
            return
        cutoff = timezone.now() - timedelta(days=days)
        deleted, _ = SessionAudit.objects.filter(created_at__lt=cutoff).delete()
        self.stdout.write(f"Deleted {deleted} session audit records older than {days} days.")
