"""The base of the project's management commands: a fault of a part the gateway depends on (the
database, Redis, the secrets backend) ends the command with one line on stderr and exit status 1,
not a traceback. `--traceback` still shows where it happened."""

import redis
from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from ..secrets import SecretsError

FAULTS = (OperationalError, InterfaceError, redis.RedisError, SecretsError)


def fault_describe(exc):
    """One line naming the part that failed and how."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (OperationalError, InterfaceError)):
        return f"The database cannot be reached or failed: {detail}"
    if isinstance(exc, redis.RedisError):
        return f"Redis (the shared cache) cannot be reached: {detail}"
    return f"The secrets backend failed: {detail}"


class FaultReportingCommand(BaseCommand):
    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except FAULTS as exc:
            raise CommandError(fault_describe(exc)) from exc
