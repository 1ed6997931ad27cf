"""Staff accounts: the people who sign in to the marketing web app (machines use API keys),
and the failed attempts (sign-ins, coupon code guesses) that limit how fast anyone may guess."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from promo.adapters.orm.base import Base, BigId, UTCDateTime, utcnow


class StaffUser(Base):
    """A person with a role (marketing or admin). Only a slow hash of the password is
    stored (scrypt, werkzeug's); ``session_epoch`` moves when the password changes or the
    account is disabled, which ends every session signed in before."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)       # lower case
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_epoch: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class FailedAttempt(Base):
    """One failed attempt (a wrong password, an unknown coupon code) by one subject ("account:
    anna@shop.example", "key:till-7", ...). Kept in the database so every worker of every
    instance counts the same attempts; rows older than the window are deleted as new ones come."""

    __tablename__ = "failed_attempts"
    __table_args__ = (
        Index("ix_failed_attempts_subject", "kind", "subject", "at"),
        Index("ix_failed_attempts_age", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(400))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
