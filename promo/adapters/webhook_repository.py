"""Webhook endpoints and the delivery outbox.

Claiming is one conditional UPDATE that re-checks, row by row, that the delivery is
still pending, due and unclaimed (or its lease ran out): of two senders racing for a
row, the one whose UPDATE comes second finds the condition false and gets nothing.
PostgreSQL re-evaluates the condition on the row's latest version after waiting for
the first sender's lock; SQLite runs writers one at a time. On PostgreSQL the candidate
rows are also read with SKIP LOCKED, so concurrent senders mostly pick different rows
instead of queueing behind each other.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from promo.adapters.orm import Webhook, WebhookDelivery, utcnow
from promo.domain.webhooks import FAILED, PENDING


@dataclasses.dataclass(frozen=True)
class ClaimedDelivery:
    """What a sender needs to make one attempt, read when it claimed the row."""

    id: int
    claim_token: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int          # including the attempt being made
    created_at: dt.datetime
    queued_at: dt.datetime
    url: str
    webhook_public_id: str
    secret_salt: str


class WebhookRepository:
    def __init__(self, session: Session):
        self.session = session

    # --- endpoints ---

    def add(self, webhook: Webhook) -> None:
        self.session.add(webhook)
        self.session.flush()

    def by_public_id(self, public_id: str) -> Webhook | None:
        return self.session.scalars(select(Webhook).where(Webhook.public_id == public_id)).one_or_none()

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Webhook)) or 0

    def page(self, after: str | None, limit: int) -> Sequence[Webhook]:
        query = select(Webhook).order_by(Webhook.public_id).limit(limit + 1)
        if after is not None:
            query = query.where(Webhook.public_id > after)
        return self.session.scalars(query).all()

    def active(self) -> Sequence[Webhook]:
        return self.session.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)).all()

    def remove(self, webhook: Webhook) -> None:
        # Explicitly, not only by the foreign key's cascade: SQLite enforces it only when
        # the connection turned foreign keys on.
        self.session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
        self.session.delete(webhook)
        self.session.flush()

    # --- the outbox ---

    def add_deliveries(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(WebhookDelivery.__table__.insert(), rows)

    def delivery(self, webhook_id: int, delivery_id: int) -> WebhookDelivery | None:
        return self.session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook_id)).one_or_none()

    def deliveries_page(self, webhook_id: int, status: str | None, after: int | None,
                        limit: int) -> Sequence[WebhookDelivery]:
        """Newest first."""
        query = (select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
                 .order_by(WebhookDelivery.id.desc()).limit(limit + 1))
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if after is not None:
            query = query.where(WebhookDelivery.id < after)
        return self.session.scalars(query).all()

    def pending_count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(WebhookDelivery)
                                   .where(WebhookDelivery.status == PENDING)) or 0

    @staticmethod
    def _claimable(now: dt.datetime) -> Any:
        return and_(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now))

    def any_due(self, now: dt.datetime) -> bool:
        """A cheap read, so that an idle sender takes no write lock (SQLite's is the whole
        database)."""
        return self.session.scalar(
            select(WebhookDelivery.id).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(self._claimable(now), Webhook.active.is_(True)).limit(1)) is not None

    def claim_due(self, now: dt.datetime, lease_until: dt.datetime, token: str, limit: int) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries of active endpoints to ``token``; count
        the attempt now, so that a delivery whose sending kills the process still runs
        out of attempts."""
        claimable = self._claimable(now)
        candidates = (select(WebhookDelivery.id).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                      .where(claimable, Webhook.active.is_(True))
                      .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
        if self.session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(of=WebhookDelivery, skip_locked=True)
        ids = list(self.session.scalars(candidates))
        if not ids:
            return []
        claimed = set(self.session.scalars(
            update(WebhookDelivery).where(WebhookDelivery.id.in_(ids), claimable)
            .values(claimed_until=lease_until, claim_token=token, attempts=WebhookDelivery.attempts + 1,
                    last_attempt_at=now)
            .returning(WebhookDelivery.id)))
        if not claimed:
            return []
        rows = self.session.execute(
            select(WebhookDelivery, Webhook.url, Webhook.public_id, Webhook.secret_salt)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id.in_(claimed)).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id))
        return [ClaimedDelivery(id=d.id, claim_token=token, event_id=d.event_id, event_type=d.event_type,
                                payload=d.payload, attempts=d.attempts, created_at=d.created_at,
                                queued_at=d.queued_at, url=url,
                                webhook_public_id=public_id, secret_salt=salt)
                for d, url, public_id, salt in rows]

    def _finish(self, delivery_id: int, token: str, values: dict[str, Any]) -> bool:
        """Record an attempt's outcome, only while ``token`` still holds the claim: a
        sender whose lease ran out and was taken over records nothing (the new holder
        sends again, at least once)."""
        result = self.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.claim_token == token,
                   WebhookDelivery.status == PENDING)
            .values(claimed_until=None, claim_token=None, **values))
        return result.rowcount == 1  # type: ignore[attr-defined]

    def mark_delivered(self, delivery_id: int, token: str, status_code: int, now: dt.datetime) -> bool:
        return self._finish(delivery_id, token, {"status": "delivered", "delivered_at": now,
                                                 "last_status_code": status_code, "last_error": None})

    def mark_failed_attempt(self, delivery_id: int, token: str, status_code: int | None, error: str,
                            retry_at: dt.datetime | None) -> bool:
        """``retry_at`` None gives up (status failed)."""
        values: dict[str, Any] = {"last_status_code": status_code, "last_error": error[:500]}
        if retry_at is None:
            values["status"] = FAILED
        else:
            values["next_attempt_at"] = retry_at
        return self._finish(delivery_id, token, values)

    def release(self, delivery_id: int, token: str) -> bool:
        """Hand back a claimed row not attempted after all (a sender stopping)."""
        return self._finish(delivery_id, token, {"attempts": WebhookDelivery.attempts - 1})

    def requeue(self, delivery: WebhookDelivery) -> None:
        """A given-up delivery goes back in the queue, due now, with a fresh attempt budget."""
        now = utcnow()
        delivery.status, delivery.attempts, delivery.next_attempt_at, delivery.queued_at = PENDING, 0, now, now
        delivery.claimed_until = delivery.claim_token = None
