from settings_admin.management.base import FaultReportingCommand
from speech.calls.services import transcripts_prune


class Command(FaultReportingCommand):
    help = (
        "Delete transcript lines older than each tenant's retention (its call policy's transcript_retention_days; "
        "30 days for a tenant without a policy). Run it daily, like audit_prune."
    )

    def handle(self, *args, **options):
        deleted = transcripts_prune()
        self.stdout.write(f"Deleted {deleted} transcript lines past their tenant's retention.")
