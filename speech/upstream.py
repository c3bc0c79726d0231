"""How many provider calls may be in flight in this process: per tenant, and in all.

Each call holds a server thread until the provider answers (at most the deadline), so one tenant's slow
provider must not take every thread: past its own limit a tenant is refused at once, and past the
process-wide limit everyone is, leaving threads for health checks and the local provider. Nothing
queues: a queued request would hold its thread all the same. Counts are per process (each worker of
`make serve` has its own threads).
"""

import threading
from collections import Counter
from contextlib import contextmanager

from django.conf import settings
from django.db import connection

from . import errors

RETRY_AFTER_SECONDS = 1

_lock = threading.Lock()
_in_flight = Counter()  # tenant id -> calls in flight
_total = 0


@contextmanager
def upstream_slot(*, tenant_id):
    """Hold one of the tenant's slots for a provider call, or raise at once when none is free."""
    global _total
    with _lock:
        if _in_flight[tenant_id] >= settings.SPEECH_PROVIDER_CALLS_PER_TENANT:
            raise errors.TenantProviderCallsLimited(retry_after=RETRY_AFTER_SECONDS)
        if _total >= settings.SPEECH_PROVIDER_CALLS:
            raise errors.ServerBusy(retry_after=RETRY_AFTER_SECONDS)
        _in_flight[tenant_id] += 1
        _total += 1
    # A provider may take its whole deadline: hold no database connection meanwhile (it goes back to the
    # pool), or a few slow providers would starve every request of the database. Inside a transaction
    # (tests) the connection must stay.
    if not connection.in_atomic_block:
        connection.close()
    try:
        yield
    finally:
        with _lock:
            _total -= 1
            _in_flight[tenant_id] -= 1
            if not _in_flight[tenant_id]:
                del _in_flight[tenant_id]


def upstream_in_flight(*, tenant_id=None):
    """Calls in flight: the tenant's, or all."""
    with _lock:
        return _total if tenant_id is None else _in_flight[tenant_id]
