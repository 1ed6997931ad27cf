"""Failed attempts counted per subject in a sliding window: past the limit, the subject is
refused (429 with Retry-After) until the window has moved on. Checkout counts wrong coupon
codes per API key and per customer (codes are long enough that guessing is hopeless,
promo.domain.codes; this makes trying expensive too); the web app counts failed sign-ins
per account and per client address.

The attempts are rows in the database (failed_attempts), so every worker of every instance
counts the same ones: a guesser spread over many processes gets the limit once, not once
per process. Only a failure writes; a check is one indexed read per subject.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Callable, Iterable

from promo.adapters.orm import utcnow
from promo.domain.errors import TooManyRequests
from promo.services.unit_of_work import UnitOfWork

TOO_MANY_GUESSES = "too_many_code_guesses"
TOO_MANY_SIGN_INS = "too_many_sign_in_attempts"
# Subjects are ids the caller chose (emails, customer ids): long ones are cut, which at
# worst lets two such subjects share one count.
MAX_SUBJECT = 400


class FailedAttempts:
    def __init__(self, unit_of_work: Callable[..., UnitOfWork], limit: int, window_seconds: float, *,
                 kind: str, reason: str, what: str, clock: Callable[[], dt.datetime] = utcnow):
        self.unit_of_work = unit_of_work
        self.limit = limit
        self.window = window_seconds
        self.kind = kind
        self.reason = reason
        self.what = what
        self._clock = clock

    def check(self, subjects: Iterable[str]) -> None:
        """Refuse (TooManyRequests) when any subject has used up its failed attempts."""
        now = self._clock()
        since = now - dt.timedelta(seconds=self.window)
        with self.unit_of_work() as uow:
            for subject in subjects:
                latest = uow.attempts.latest(self.kind, subject[:MAX_SUBJECT], since, self.limit)
                if len(latest) >= self.limit:
                    # the oldest of the last `limit` failures leaves the window first
                    wait = max(1, math.ceil((latest[-1] - since).total_seconds()))
                    raise TooManyRequests(f"too many {self.what}; retry in {wait} s",
                                          reason=self.reason, retry_after=wait)

    def wrong(self, subjects: Iterable[str], count: int = 1) -> None:
        """Record ``count`` failures of each subject, in a transaction of their own (the
        request that failed rolls its own back)."""
        now = self._clock()
        with self.unit_of_work(write=True) as uow:
            uow.attempts.add(self.kind, [subject[:MAX_SUBJECT] for subject in subjects],
                             min(count, self.limit), now)
            uow.attempts.forget_before(self.kind, now - dt.timedelta(seconds=self.window))
            uow.commit()
