"""Webhooks: the events we send, how a body is signed, and how retries back off.

Plain rules, no I/O: the services write the outbox and the sender sends it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import random
from typing import Any
from urllib.parse import urlsplit

CAMPAIGN_ACTIVATED = "campaign.activated"
CAMPAIGN_PAUSED = "campaign.paused"
CAMPAIGN_RESUMED = "campaign.resumed"
CAMPAIGN_ENDED = "campaign.ended"
CAMPAIGN_REFUSED = "campaign.refused"
STOCK_LOW = "stock.low"
STOCK_OUT = "stock.out"
STOCK_BACK = "stock.back"

# What an endpoint may subscribe to.
EVENT_TYPES = (CAMPAIGN_ACTIVATED, CAMPAIGN_PAUSED, CAMPAIGN_RESUMED, CAMPAIGN_ENDED, CAMPAIGN_REFUSED,
               STOCK_LOW, STOCK_OUT, STOCK_BACK)
# Sent to one endpoint on request (POST /v1/webhooks/{id}/ping), whatever it subscribes to.
PING = "ping"

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERY_STATUSES = (PENDING, DELIVERED, FAILED)

MAX_URL_LENGTH = 2048
URL_SCHEMES = ("http", "https")

# Headers of every delivery. Receivers dedupe by EVENT_ID_HEADER: delivery is at least once.
EVENT_ID_HEADER = "Promo-Event-Id"
EVENT_TYPE_HEADER = "Promo-Event-Type"
TIMESTAMP_HEADER = "Promo-Timestamp"
SIGNATURE_HEADER = "Promo-Signature"
SECRET_PREFIX = "whsec_"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook endpoint, or None.

    Only absolute http(s) URLs with a host and no credentials in them. Loopback and
    private addresses are allowed on purpose (tests and demos use them): registering is
    an admin's act, and the SSRF consideration is documented in the README.
    """
    if len(url) > MAX_URL_LENGTH:
        return f"Must be at most {MAX_URL_LENGTH} characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return "Not a valid URL."
    if parts.scheme not in URL_SCHEMES:
        return "Must be an http:// or https:// URL."
    if not parts.hostname:
        return "Must name a host."
    if parts.username is not None or parts.password is not None:
        return "Must not carry credentials; authenticate the body by its signature instead."
    if parts.fragment:
        return "Must not have a fragment."
    if any(ch.isspace() for ch in url):
        return "Must not contain spaces."
    return None


def derive_secret(secret_key: str, public_id: str, salt: str) -> str:
    """An endpoint's signing secret, derived rather than stored (the database holds only
    the salt): HMAC-SHA256 of the service's secret_key over the endpoint's id and salt."""
    digest = hmac.new(secret_key.encode(), f"promo.webhook:{public_id}:{salt}".encode(), hashlib.sha256)
    return SECRET_PREFIX + digest.hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``: the timestamp is signed too, so a
    captured delivery cannot be replayed later with a new timestamp."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes, now: float, tolerance_seconds: int = 300) -> bool:
    """What a receiver does (the README has the same in a few lines): the signature must
    match and its timestamp be within ``tolerance_seconds`` of now."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


def body_of(event_id: str, event_type: str, created_at: str, payload: dict[str, Any]) -> bytes:
    """The JSON body of a delivery; the same bytes on every attempt of the same event."""
    document = {"id": event_id, "type": event_type, "created_at": created_at, "data": payload}
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def backoff_seconds(attempts: int, base_seconds: float, cap_seconds: float, rng: random.Random | None = None) -> float:
    """Delay before the next attempt after ``attempts`` tries: exponential (base, 2 base,
    4 base...) up to the cap, with "equal jitter" (half fixed, half random) so that
    endpoints coming back up are not hit by every retry at the same instant."""
    ceiling = min(cap_seconds, base_seconds * 2 ** max(0, min(attempts - 1, 62)))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def gives_up(attempts: int, age_seconds: float, max_attempts: int, max_age_seconds: float) -> bool:
    """Whether a delivery that just failed is abandoned (``failed``) instead of retried."""
    return attempts >= max_attempts or age_seconds >= max_age_seconds
