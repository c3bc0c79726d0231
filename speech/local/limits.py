"""The local provider's rate limits and its ledger of used client secrets. No Django import.

Both live in the memory of one local-provider process: that is where its calls live too.
"""

import heapq
import threading
import time

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate):
    """ "30/m" -> (30, 60); "5/10s" -> (5, 10)."""
    count, _, period = rate.partition("/")
    return int(count), int(period[:-1] or 1) * UNIT_SECONDS[period[-1]]


class FixedWindowLimiter:
    """Counts hits per key in fixed windows of the rate's period."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._windows = {}  # key -> (window, count)
        self._lock = threading.Lock()

    def hit(self, key, *, rate):
        """Count one hit; 0 when within `rate` ("" is no limit), else the seconds until the window ends."""
        if not rate:
            return 0
        limit, period = rate_parse(rate)
        now = self._clock()
        window = int(now // period)
        with self._lock:
            if len(self._windows) > 10_000:  # keys of windows gone by
                self._windows = {k: v for k, v in self._windows.items() if (v[0] + 1) * k[1] > now}
            current, count = self._windows.get((key, period), (window, 0))
            count = count + 1 if current == window else 1
            self._windows[(key, period)] = (window, count)
        return 0 if count <= limit else max(1, int((window + 1) * period - now))

    def clear(self):
        with self._lock:
            self._windows.clear()


class SecretLedger:
    """Which client secrets have opened their call; each id is kept until its secret expires."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._used = set()
        self._expiry = []  # heap of (expires_at, secret id)
        self._lock = threading.Lock()

    def claim(self, secret_id, *, expires_at):
        """True the first time a secret is claimed, False ever after (until it has expired anyway)."""
        with self._lock:
            now = self._clock()
            while self._expiry and self._expiry[0][0] < now:
                self._used.discard(heapq.heappop(self._expiry)[1])
            if secret_id in self._used:
                return False
            self._used.add(secret_id)
            heapq.heappush(self._expiry, (expires_at, secret_id))
            return True

    def __len__(self):
        return len(self._used)

    def release(self, secret_id):
        """Give a claim back: the offer opened no call (a broken offer, no free slot)."""
        with self._lock:
            self._used.discard(secret_id)  # its heap entry goes at its time, harmlessly

    def clear(self):
        with self._lock:
            self._used.clear()
            self._expiry.clear()


class EventRate:
    """A token bucket: `per_second` events on average, bursts up to `burst`. For one caller (no lock)."""

    def __init__(self, *, per_second, burst, clock=time.monotonic):
        self.per_second, self.burst, self._clock = per_second, burst, clock
        self._tokens, self._at = float(burst), clock()

    def allow(self):
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
