"""API keys: creation, listing, revocation and authentication.

A key reads ``promo_<prefix>_<secret>``. The prefix finds the row; only a SHA-256 hash of
the secret is stored. The secret carries 256 random bits, so a fast hash is enough: there
is nothing to guess, and a slow password hash would only cost every request time.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from typing import Any, Callable

from promo.adapters.database import DATABASE_DOWN
from promo.adapters.orm import ApiKey, utcnow
from promo.domain.access import Role
from promo.domain.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound
from promo.services.background import log_failure
from promo.services.unit_of_work import UnitOfWork

log = logging.getLogger("promo.keys")

TOKEN_PATTERN = re.compile(r"^promo_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DEMO_KEY_PREFIX = "demo-"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key_view(key: ApiKey) -> dict[str, Any]:
    return {"name": key.name, "role": key.role, "prefix": key.prefix,
            "created_at": key.created_at, "revoked_at": key.revoked_at}


def create_key(uow: UnitOfWork, *, name: str, role: str, replace: bool = False) -> tuple[dict[str, Any], str]:
    """Create a key; return its description and the token, which is shown only this once.

    A taken name is a conflict, unless ``replace``: then that key gets a new secret and the
    given role (revoked or not, it is active again) and its old secret stops working, so a
    script that makes its own key can run any number of times.
    """
    if role not in {r.value for r in Role}:
        raise InvalidInput("invalid role", {"role": [f"must be one of {', '.join(r.value for r in Role)}"]})
    if not NAME_PATTERN.match(name):
        raise InvalidInput("invalid name", {"name": ["1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"]})
    prefix, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with uow:
        key = uow.api_keys.by_name(name)
        if key is not None and not replace:
            raise Conflict(f"a key named {name!r} exists already", reason="key_name_taken")
        if key is None:
            key = ApiKey(name=name)
            uow.api_keys.add(key)
        key.role, key.prefix, key.secret_hash = role, prefix, _hash(secret)
        key.created_at, key.revoked_at = utcnow(), None
        uow.commit()
        return _key_view(key), f"promo_{prefix}_{secret}"


def list_keys(uow: UnitOfWork) -> list[dict[str, Any]]:
    with uow:
        return [_key_view(key) for key in uow.api_keys.all()]


def revoke_key(uow: UnitOfWork, name: str) -> dict[str, Any]:
    """Revoke a key by name; revoking a revoked key changes nothing."""
    with uow:
        key = uow.api_keys.by_name(name)
        if key is None:
            raise NotFound(f"no key named {name!r}")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            uow.commit()
        return _key_view(key)


@dataclasses.dataclass(frozen=True)
class _Known:
    name: str
    role: str
    secret_hash: str
    revoked: bool


def _parse(token: str | None) -> tuple[str, str]:
    match = TOKEN_PATTERN.match(token or "")
    if not match:
        raise AuthenticationFailed("missing or malformed API key: send 'Authorization: Bearer promo_...'")
    prefix, secret = match.groups()
    return prefix, secret


def _judge(key: _Known | None, secret: str) -> tuple[str, Role]:
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        raise AuthenticationFailed("unknown API key")
    if key.revoked:
        raise AuthenticationFailed("this API key has been revoked")
    return key.name, Role(key.role)


def _known(key: ApiKey) -> _Known:
    return _Known(key.name, key.role, key.secret_hash, key.revoked_at is not None)


def authenticate(uow: UnitOfWork, token: str | None) -> tuple[str, Role]:
    """The name and role of a valid, unrevoked key; AuthenticationFailed otherwise."""
    prefix, secret = _parse(token)
    with uow:
        found = uow.api_keys.by_prefix(prefix)
        return _judge(None if found is None else _known(found), secret)


class KeyRing:
    """Every API key of the database, held by one process and read again every
    ``refresh_seconds``: requests authenticate without a database round trip, and a
    revoked or replaced key stops working within that delay in every process. A prefix
    the ring does not hold (a key created since the last read) is looked up at once.

    While the database is away the keys held keep working (nobody can revoke one
    meanwhile), so what is served from memory keeps answering; one request per interval
    tries to read them again, the others go on with the keys held."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], refresh_seconds: float):
        self._uow_factory = uow_factory
        self.refresh_seconds = refresh_seconds
        self._keys: dict[str, _Known] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def authenticate(self, token: str | None) -> tuple[str, Role]:
        prefix, secret = _parse(token)
        keys = self._current()
        key = keys.get(prefix)
        if key is None:
            with self._uow_factory() as uow:
                found = uow.api_keys.by_prefix(prefix)
                key = None if found is None else _known(found)
            if key is not None:
                with self._lock:
                    self._keys = {**self._keys, prefix: key}
        return _judge(key, secret)

    def _current(self) -> dict[str, _Known]:
        with self._lock:
            if time.monotonic() - self._read_at < self.refresh_seconds:
                return self._keys
            held = self._keys if self._read_at > float("-inf") else None
            if held is not None:
                self._read_at = time.monotonic()     # this request reads again; the others go on
        try:
            with self._uow_factory() as uow:
                keys = {key.prefix: _known(key) for key in uow.api_keys.all()}
        except DATABASE_DOWN as error:
            if held is None:
                raise
            log_failure(log, "reading the API keys again failed; the keys held keep working", error)
            return held
        with self._lock:
            self._keys, self._read_at = keys, time.monotonic()
            return keys


def ensure_demo_keys(uow_factory: Any) -> list[tuple[dict[str, Any], str]]:
    """Create one demo key per role unless it exists; return only the ones created now."""
    created = []
    for role in Role:
        name = f"{DEMO_KEY_PREFIX}{role.value}"
        try:
            created.append(create_key(uow_factory(), name=name, role=role.value))
        except Conflict:
            continue
    return created
