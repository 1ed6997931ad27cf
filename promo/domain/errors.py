"""Domain exceptions. The API maps each to one HTTP status in promo/api/errors.py."""
from __future__ import annotations

from typing import Any


class PromoError(Exception):
    """Base of every error the product raises on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(PromoError):
    """The named thing does not exist (404)."""


class Conflict(PromoError):
    """The request clashes with the current state (409); ``reason`` is a stable code."""

    def __init__(self, message: str, reason: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.details = details


class InvalidInput(PromoError):
    """Input that passed its schema but breaks a rule (422).

    ``errors`` has the same shape as a schema's: field -> messages, or for a batch
    item index -> field -> messages, so clients handle both alike.
    """

    def __init__(self, message: str, errors: dict[Any, Any]):
        super().__init__(message)
        self.errors = errors


class AuthenticationFailed(PromoError):
    """No API key, or one that is unknown or revoked (401)."""


class PermissionDenied(PromoError):
    """A valid API key whose role may not do this (403)."""


class Unavailable(PromoError):
    """The process cannot answer yet or now, though the request is fine (503); ``reason`` is
    a stable code. Retrying shortly is the right thing to do."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class TooManyRequests(PromoError):
    """The caller asked too often (429); ``reason`` is a stable code and ``retry_after``
    the seconds to wait."""

    def __init__(self, message: str, reason: str, retry_after: int):
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after
