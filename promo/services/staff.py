"""Staff accounts: created by an operator (`promo users create`), signed in to the web app.

Passwords are kept only as a slow hash made for them (werkzeug's scrypt: each check costs
tens of milliseconds, so a stolen table is slow to attack); an unknown email costs the
same check as a wrong password, so a response time does not say whether an account
exists. Changing a password or disabling an account moves its ``session_epoch``, which
ends every session signed in before (the web app stores the epoch in the session).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from typing import Callable

from werkzeug.security import check_password_hash, generate_password_hash

from promo.adapters.orm import StaffUser
from promo.domain.errors import Conflict, InvalidInput, NotFound
from promo.services.unit_of_work import UnitOfWork

PEOPLE_ROLES = ("marketing", "admin")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}\Z")
# Checked against when the email is unknown, so that both cost the same.
_NOBODY = generate_password_hash("no one has this password", method="scrypt")


@dataclasses.dataclass(frozen=True)
class Person:
    """Who is signed in, as the web app keeps them between requests."""

    id: int
    email: str
    name: str
    role: str
    session_epoch: int


def _person(user: StaffUser) -> Person:
    return Person(user.id, user.email, user.name, user.role, user.session_epoch)


def _password_errors(password: str) -> list[str]:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return [f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"]
    return []


def create_user(uow: UnitOfWork, *, email: str, name: str, role: str, password: str) -> Person:
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL.match(email):
        errors["email"] = ["not an email address"]
    if role not in PEOPLE_ROLES:
        errors["role"] = [f"one of: {', '.join(PEOPLE_ROLES)}"]
    if not 1 <= len(name.strip()) <= 200:
        errors["name"] = ["1 to 200 characters"]
    if _password_errors(password):
        errors["password"] = _password_errors(password)
    if errors:
        raise InvalidInput("the account is invalid; nothing was written", errors)
    with uow:
        if uow.staff.by_email(email) is not None:
            raise Conflict(f"an account for {email} exists already", reason="user_exists")
        user = StaffUser(email=email, name=name.strip(), role=role, active=True, session_epoch=1,
                         password_hash=generate_password_hash(password, method="scrypt"))
        uow.staff.add(user)
        person = _person(user)
        uow.commit()
    return person


def authenticate(uow: UnitOfWork, email: str, password: str) -> Person | None:
    """The person when the email and password match an active account, else None."""
    with uow:
        user = uow.staff.by_email(email.strip().lower())
        stored = user.password_hash if user is not None else _NOBODY
        ok = check_password_hash(stored, password[:MAX_PASSWORD_LENGTH])
        if user is None or not ok or not user.active:
            return None
        user.last_sign_in_at = dt.datetime.now(dt.timezone.utc)
        person = _person(user)
        uow.commit()
    return person


def signed_in(uow: UnitOfWork, user_id: int, epoch: int) -> Person | None:
    """The person a session names, if their account is active and the session is not older
    than their last password change or disabling."""
    with uow:
        user = uow.staff.get(user_id)
        if user is None or not user.active or user.session_epoch != epoch:
            return None
        return _person(user)


def set_password(uow: UnitOfWork, email: str, password: str) -> None:
    if _password_errors(password):
        raise InvalidInput("the password is invalid; nothing was written", {"password": _password_errors(password)})
    with uow:
        user = _user_or_404(uow, email)
        user.password_hash = generate_password_hash(password, method="scrypt")
        user.session_epoch += 1
        uow.commit()


def disable(uow: UnitOfWork, email: str) -> None:
    with uow:
        user = _user_or_404(uow, email)
        user.active = False
        user.session_epoch += 1
        uow.commit()


def list_users(uow: UnitOfWork) -> list[dict[str, object]]:
    with uow:
        return [{"email": u.email, "name": u.name, "role": u.role, "active": u.active,
                 "created_at": u.created_at, "last_sign_in_at": u.last_sign_in_at} for u in uow.staff.all()]


DEMO_ACCOUNTS = (("marketing@demo.example", "Demo Marketing", "marketing"),
                 ("admin@demo.example", "Demo Admin", "admin"))


def ensure_demo_users(uow_factory: Callable[[], UnitOfWork]) -> list[tuple[Person, str]]:
    """One demo account per role unless it exists, each with a fresh random password;
    only the accounts created now, with their passwords (shown once, never stored)."""
    created = []
    for email, name, role in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        try:
            created.append((create_user(uow_factory(), email=email, name=name, role=role, password=password),
                            password))
        except Conflict:
            continue
    return created


def _user_or_404(uow: UnitOfWork, email: str) -> StaffUser:
    user = uow.staff.by_email(email.strip().lower())
    if user is None:
        raise NotFound(f"no account for {email!r}")
    return user
