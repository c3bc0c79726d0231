import asyncio
import resource

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.module_loading import import_string
from prometheus_client import start_http_server

from settings_admin.management.base import FaultReportingCommand
from speech.supervisor.streams import supervisor_main


class Command(FaultReportingCommand):
    help = (
        "Supervise calls: take attach jobs from the Redis Stream (REDIS_URL) and hold one sideband connection per "
        "call, re-joining the calls of supervisors that died. SIGTERM leaves the calls running for another "
        "supervisor to re-join (docs/deployment.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-calls", type=int, help="calls held at once (default: SPEECH_SUPERVISOR_MAX_CALLS)"
        )
        parser.add_argument(
            "--metrics-port", type=int,
            help="serve Prometheus metrics on this port, 0 for none (default: SPEECH_SUPERVISOR_METRICS_PORT)",
        )  # fmt: skip
        parser.add_argument(
            "--only-with-redis", action="store_true",
            help="without Redis, say so and exit 0 rather than fail (make serve starts it either way)",
        )  # fmt: skip

    def handle(self, *args, max_calls=None, metrics_port=None, only_with_redis=False, **options):
        if settings.SPEECH_CALL_DISPATCH != "redis" or not settings.REDIS_URL:
            if only_with_redis:
                self.stdout.write("call supervisor not started: no REDIS_URL, the web processes supervise their calls")
                return
            raise CommandError(
                "call_supervisor takes its jobs from Redis: set REDIS_URL (and leave SPEECH_CALL_DISPATCH at "
                "redis). Without Redis the web process supervises the calls it attaches itself."
            )
        max_calls = settings.SPEECH_SUPERVISOR_MAX_CALLS if max_calls is None else max_calls
        if max_calls < 1:
            raise CommandError("--max-calls must be 1 or more.")
        port = settings.SPEECH_SUPERVISOR_METRICS_PORT if metrics_port is None else metrics_port
        fd_limit_raise(max_calls)
        if port:
            start_http_server(port, addr=settings.SPEECH_SUPERVISOR_METRICS_ADDR)
        handler = import_string(settings.SPEECH_SUPERVISOR_HANDLER)

        def ready():
            self.stdout.write(f"call supervisor ready (at most {max_calls} calls)")
            self.stdout.flush()

        asyncio.run(supervisor_main(handler=handler, max_calls=max_calls, on_ready=ready))


def fd_limit_raise(max_calls):
    """One socket per call, plus the database's and Redis's: raise the soft limit on open files toward the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_calls + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted,
                                                    hard))  # fmt: skip
