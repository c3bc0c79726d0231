from django.core.management.base import CommandError

from settings_admin.health import tenant_credential_statuses
from settings_admin.management.base import FaultReportingCommand
from settings_admin.models import SpeechSettings


class Command(FaultReportingCommand):
    help = "Report whether each tenant's provider credential resolves (the key itself is never printed)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="check only this tenant (slug)")

    def handle(self, *args, tenant=None, **options):
        queryset = SpeechSettings.objects.filter(tenant__is_active=True)
        if tenant:
            queryset = queryset.filter(tenant__slug=tenant)
        failures = total = 0
        for speech_settings, status in tenant_credential_statuses(queryset):
            total += 1
            failures += not status.ok
            line = (
                f"{speech_settings.tenant.slug:20} {speech_settings.provider:18} "
                f"{speech_settings.credential_reference:45} {status}"
            )
            self.stdout.write(self.style.SUCCESS(line) if status.ok else self.style.ERROR(line))
        if total == 0:
            raise CommandError(f"No active tenant{f' {tenant!r}' if tenant else ''}.")
        if failures:
            raise CommandError(f"{failures} of {total} tenants have no usable credential.")
