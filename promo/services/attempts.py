"""Failed attempts counted per subject in a sliding window: past the limit, the subject is
refused (429 with Retry-After) until the window has moved on. Checkout counts wrong coupon
codes per API key and per customer (codes are long enough that guessing is hopeless,
promo.domain.codes; this makes trying expensive too); the web app counts failed sign-ins
per account and per client address.

The count is per process (each gunicorn worker keeps its own), so a caller spread over
N workers gets at most N times the limit; being in memory, it costs no write.
"""
from __future__ import annotations

import collections
import math
import threading
import time
from typing import Deque, Iterable

from promo.domain.errors import TooManyRequests

TOO_MANY_GUESSES = "too_many_code_guesses"
TOO_MANY_SIGN_INS = "too_many_sign_in_attempts"


class FailedAttempts:
    def __init__(self, limit: int, window_seconds: float, *, reason: str, what: str,
                 clock=time.monotonic):  # type: ignore[no-untyped-def]
        self.limit = limit
        self.window = window_seconds
        self.reason = reason
        self.what = what
        self._clock = clock
        self._lock = threading.Lock()
        self._wrong: dict[str, Deque[float]] = {}

    def check(self, subjects: Iterable[str]) -> None:
        """Refuse (TooManyRequests) when any subject has used up its wrong guesses."""
        now = self._clock()
        with self._lock:
            for subject in subjects:
                times = self._recent(subject, now)
                if len(times) >= self.limit:
                    wait = max(1, math.ceil(times[0] + self.window - now))
                    raise TooManyRequests(f"too many {self.what}; retry in {wait} s",
                                          reason=self.reason, retry_after=wait)

    def wrong(self, subjects: Iterable[str], count: int = 1) -> None:
        now = self._clock()
        with self._lock:
            for subject in subjects:
                times = self._wrong.setdefault(subject, collections.deque())
                times.extend([now] * count)
                while len(times) > self.limit:
                    times.popleft()
            if len(self._wrong) > 100_000:      # forget the quiet ones rather than grow without end
                for subject in [s for s, t in self._wrong.items() if not t or t[-1] <= now - self.window]:
                    del self._wrong[subject]

    def _recent(self, subject: str, now: float) -> Deque[float]:
        times = self._wrong.get(subject)
        if times is None:
            return collections.deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
