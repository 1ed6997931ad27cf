"""Requests allowed per API key: a token bucket per key, refilled at ``rate`` a second up
to ``burst``. Past it, 429 ``rate_limited`` with Retry-After saying when one more request
will be allowed.

It is kept per process: each gunicorn worker of each instance has its own buckets, so a
key spread over W workers gets at most W times the rate. It costs one dictionary lookup
under a lock, no write, which keeps it off the offers' latency. (Failed attempts, which
guard secrets rather than capacity, are counted in the database instead:
promo.services.attempts.)
"""
from __future__ import annotations

import math
import threading
import time

from promo.domain.errors import TooManyRequests

RATE_LIMITED = "rate_limited"
# Buckets kept at most; past it, the full (idle) ones are forgotten: a full bucket is what a
# new key gets anyway.
MAX_SUBJECTS = 100_000


class RequestRates:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):  # type: ignore[no-untyped-def]
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}      # subject -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, subject: str) -> None:
        """Spend one request of ``subject``'s, or refuse (TooManyRequests) when none is left."""
        if not self.enabled:
            return
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(subject, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[subject] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
                raise TooManyRequests(f"too many requests with this key (more than {self.rate:g} a second); "
                                      f"retry in {wait} s", reason=RATE_LIMITED, retry_after=wait)
            self._buckets[subject] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_SUBJECTS:
                self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        for subject, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.burst:
                del self._buckets[subject]
