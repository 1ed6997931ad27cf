"""Webhook rules on plain values: signatures, secrets, URLs, backoff."""
from __future__ import annotations

import random
import time

import pytest

from promo.domain import webhooks as rules


def test_a_signature_verifies_with_the_secret_and_nothing_else():
    body = rules.body_of("evt_1", "stock.out", "2026-11-30T10:00:00+00:00", {"sku": "a"})
    now = int(time.time())
    header = rules.signature_header("whsec_right", now, body)

    assert rules.verify_signature("whsec_right", header, body, now=now)
    assert not rules.verify_signature("whsec_wrong", header, body, now=now)
    assert not rules.verify_signature("whsec_right", header, body.replace(b'"a"', b'"b"'), now=now)
    # The timestamp is signed: changing it breaks the signature, and an old one is refused.
    forged = header.replace(f"t={now}", f"t={now + 1}")
    assert not rules.verify_signature("whsec_right", forged, body, now=now)
    assert not rules.verify_signature("whsec_right", header, body, now=now + 301)
    assert not rules.verify_signature("whsec_right", "garbage", body, now=now)


def test_the_body_is_the_same_bytes_for_the_same_event():
    one = rules.body_of("evt_1", "stock.low", "2026-11-30T10:00:00+00:00", {"b": 1, "a": [1, 2]})
    two = rules.body_of("evt_1", "stock.low", "2026-11-30T10:00:00+00:00", {"a": [1, 2], "b": 1})

    assert one == two == (b'{"created_at":"2026-11-30T10:00:00+00:00","data":{"a":[1,2],"b":1},'
                          b'"id":"evt_1","type":"stock.low"}')


def test_secrets_are_derived_per_endpoint_and_salt_and_from_the_service_key():
    secret = rules.derive_secret("k" * 32, "wh_1", "salt1")

    assert secret.startswith("whsec_") and len(secret) == 6 + 64
    assert secret == rules.derive_secret("k" * 32, "wh_1", "salt1")
    assert len({secret, rules.derive_secret("k" * 32, "wh_1", "salt2"), rules.derive_secret("k" * 32, "wh_2", "salt1"),
                rules.derive_secret("j" * 32, "wh_1", "salt1")}) == 4


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "https://example.com/a?b=c", "http://localhost/x"])
def test_http_and_https_urls_are_endpoints(url):
    assert rules.url_problem(url) is None


@pytest.mark.parametrize("url,problem", [
    ("ftp://example.com/x", "http"), ("file:///etc/passwd", "http"), ("example.com/x", "http"),
    ("http:///path", "host"), ("http://user:pw@example.com/", "credentials"), ("http://example.com:99999/", "valid"),
    ("http://example.com/#frag", "fragment"), ("http://example.com/a b", "spaces"),
    ("http://example.com/" + "a" * 2100, "2048"),
])
def test_other_urls_are_refused_with_a_reason(url, problem):
    assert problem in rules.url_problem(url)


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    rng = random.Random(7)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (10, 300), (500, 300)]:
        delays = [rules.backoff_seconds(attempts, 10, 300, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempts
        assert max(delays) - min(delays) > ceiling / 4   # jittered, not one fixed value


def test_a_delivery_is_given_up_at_its_attempt_or_age_budget():
    assert not rules.gives_up(2, 10, max_attempts=3, max_age_seconds=60)
    assert rules.gives_up(3, 10, max_attempts=3, max_age_seconds=60)
    assert rules.gives_up(1, 60, max_attempts=3, max_age_seconds=60)
