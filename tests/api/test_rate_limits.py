"""Requests per API key: past the key's rate (a token bucket per process) the API answers
429 rate_limited with Retry-After, other keys are unaffected, and the bucket refills."""
from __future__ import annotations

import pytest

from promo.domain.errors import TooManyRequests
from promo.services.request_rates import RATE_LIMITED, RequestRates


@pytest.mark.settings(api_rate_per_key=1, api_burst_per_key=3)
def test_a_key_past_its_rate_gets_429_with_retry_after_and_other_keys_do_not(client, admin, marketing):
    answers = [client.get("/v1/products", headers=admin) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json["reason"] == RATE_LIMITED and refused.headers["Retry-After"] == "1"
    assert "more than 1 a second" in refused.json["message"]
    assert client.get("/v1/products", headers=marketing).status_code == 200     # its own bucket
    assert client.get("/healthz").status_code == 200                            # no key, no limit


def test_the_default_rate_lets_a_burst_through(client, admin):
    assert all(client.get("/v1/products", headers=admin).status_code == 200 for _ in range(50))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_refills_at_its_rate_up_to_its_burst():
    clock = Clock()
    rates = RequestRates(rate=2, burst=4, clock=clock)
    for _ in range(4):
        rates.take("k")
    with pytest.raises(TooManyRequests) as refused:
        rates.take("k")
    assert refused.value.retry_after == 1
    clock.now += 0.5                     # one request's worth back
    rates.take("k")
    with pytest.raises(TooManyRequests):
        rates.take("k")
    clock.now += 60                      # never more than the burst
    for _ in range(4):
        rates.take("k")
    with pytest.raises(TooManyRequests):
        rates.take("k")
    rates.take("another key")


def test_a_rate_of_zero_limits_nothing():
    rates = RequestRates(rate=0, burst=1)
    for _ in range(1000):
        rates.take("k")
