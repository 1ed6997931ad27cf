"""Failed attempts (wrong passwords, coupon code guesses) kept in the database: the window,
Retry-After, the rows it keeps, and subjects longer than the column."""
from __future__ import annotations

import datetime as dt

import pytest

from promo.domain.errors import TooManyRequests
from promo.services.attempts import FailedAttempts

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def attempts(runtime, clock) -> FailedAttempts:
    return FailedAttempts(runtime.unit_of_work, 3, 60, kind="test", reason="too_many_tries", what="tries",
                          clock=clock)


def refusal(attempts: FailedAttempts, subjects: list[str]) -> int | None:
    """Retry-After if ``subjects`` are refused now, else None."""
    try:
        attempts.check(subjects)
    except TooManyRequests as refused:
        assert refused.reason == "too_many_tries"
        return refused.retry_after
    return None


def test_the_limit_holds_until_the_oldest_counted_failure_leaves_the_window(attempts, clock):
    attempts.wrong(["a"])
    clock.at(20)
    attempts.wrong(["a", "b"], count=2)
    assert refusal(attempts, ["b"]) is None              # two failures: still allowed
    assert refusal(attempts, ["b", "a"]) == 40           # a's third came at 20 s; the first leaves at 60 s

    clock.at(59.5)
    assert refusal(attempts, ["a"]) == 1
    clock.at(60)
    assert refusal(attempts, ["a"]) is None              # the failure at 0 s is out of the window
    clock.at(80)
    assert refusal(attempts, ["a"]) is None


def test_old_failures_are_deleted_and_one_call_counts_at_most_the_limit(attempts, clock, row_count):
    attempts.wrong(["a"], count=50)
    assert row_count("failed_attempts") == 3
    assert refusal(attempts, ["a"]) == 60

    clock.at(61)
    attempts.wrong(["b"])
    assert row_count("failed_attempts") == 1             # a's rows went with b's failure
    assert refusal(attempts, ["a"]) is None


def test_kinds_are_counted_apart(runtime, attempts, clock):
    other = FailedAttempts(runtime.unit_of_work, 3, 60, kind="other", reason="too_many_others", what="others",
                           clock=clock)
    attempts.wrong(["a"], count=3)
    assert refusal(attempts, ["a"]) == 60
    other.check(["a"])                                   # nothing counted for this kind


def test_a_subject_longer_than_the_column_is_counted_by_its_start(attempts):
    long_subject = "account:" + "x" * 2_000
    attempts.wrong([long_subject], count=3)
    assert refusal(attempts, [long_subject]) == 60
