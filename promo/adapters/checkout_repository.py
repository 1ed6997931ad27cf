"""Checkout's rows: redemptions with their answers, the counters that hold a campaign's
cap, budget and per-customer limit, and coupon codes.

Every limit is held by a conditional update of a counter inside the redeeming
transaction (``UPDATE ... SET n = n + 1 WHERE n < limit``): never read, then write. On
PostgreSQL a concurrent update of the same row waits for the first to commit and then
judges its condition on the committed row; on SQLite writers take turns. Either way a
counter never passes its limit, whatever the number of threads and processes.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from promo.adapters.bulk import rows_where_in
from promo.adapters.orm import Campaign, CouponCode, CustomerRedemptionCount, Redemption
from promo.adapters.repositories import _insert


class CheckoutRepository:
    def __init__(self, session: Session):
        self.session = session

    # --- redemptions ----------------------------------------------------------------------

    def redemption_by_key(self, idempotency_key: str) -> Redemption | None:
        return self.session.scalars(select(Redemption).where(Redemption.event_id == idempotency_key)).one_or_none()

    def redemption(self, redemption_id: int) -> Redemption | None:
        return self.session.get(Redemption, redemption_id)

    def add_redemption(self, row: dict[str, Any]) -> Redemption:
        """Insert (flushed at once): a repeat of the key trips the unique index here, before
        any counter moves."""
        redemption = Redemption(**row)
        self.session.add(redemption)
        self.session.flush()
        return redemption

    def cancel(self, redemption_id: int, now: dt.datetime) -> bool:
        """Mark cancelled, once: False if it already was."""
        done = self.session.execute(update(Redemption).where(
            Redemption.id == redemption_id, Redemption.cancelled_at.is_(None)).values(cancelled_at=now))
        return done.rowcount == 1

    # --- a campaign's cap and budget ------------------------------------------------------

    def take_from_campaign(self, campaign_id: int, cents: int, now: dt.datetime) -> bool:
        """Count one redemption taking ``cents`` off the bill, if the campaign is live and
        its cap and budget allow it."""
        done = self.session.execute(update(Campaign).where(
            Campaign.id == campaign_id, Campaign.status == "active",
            Campaign.starts_at <= now, Campaign.ends_at > now,
            or_(Campaign.max_redemptions.is_(None), Campaign.redeemed_count < Campaign.max_redemptions),
            or_(Campaign.budget.is_(None),
                Campaign.discount_spent_cents + cents <= func.round(Campaign.budget * 100)),
        ).values(redeemed_count=Campaign.redeemed_count + 1,
                 discount_spent_cents=Campaign.discount_spent_cents + cents))
        return done.rowcount == 1

    def give_back_to_campaign(self, campaign_id: int, cents: int) -> None:
        self.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
            redeemed_count=Campaign.redeemed_count - 1,
            discount_spent_cents=Campaign.discount_spent_cents - cents))

    def campaign(self, campaign_id: int) -> Campaign | None:
        return self.session.get(Campaign, campaign_id)

    # --- a customer's redemptions of a campaign ---------------------------------------------

    def take_for_customer(self, campaign_id: int, customer_id: int, limit: int | None) -> bool:
        """Count one more redemption of the campaign for the customer, if under ``limit``."""
        table = CustomerRedemptionCount.__table__
        stmt = _insert(self.session, table).values(campaign_id=campaign_id, customer_id=customer_id, redeemed=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "customer_id"], set_={"redeemed": table.c.redeemed + 1},
            where=None if limit is None else table.c.redeemed < limit)
        # RETURNING tells whether a row was written (an upsert's rowcount is not reliable
        # on every driver).
        return self.session.execute(stmt.returning(table.c.redeemed)).first() is not None

    def give_back_for_customer(self, campaign_id: int, customer_id: int) -> None:
        self.session.execute(update(CustomerRedemptionCount).where(
            CustomerRedemptionCount.campaign_id == campaign_id,
            CustomerRedemptionCount.customer_id == customer_id).values(redeemed=CustomerRedemptionCount.redeemed - 1))

    def recount(self, campaign_ids: Iterable[int]) -> None:
        """Set the counters of these campaigns from their stored redemptions (after an
        import of history, which is not checked against limits)."""
        ids = sorted(set(campaign_ids))
        if not ids:
            return
        live = Redemption.cancelled_at.is_(None)
        for campaign_id in ids:
            count, cents = self.session.execute(select(
                func.count(), func.coalesce(func.round(func.sum(Redemption.discount_total) * 100), 0)
            ).where(Redemption.campaign_id == campaign_id, live)).one()
            self.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
                redeemed_count=int(count), discount_spent_cents=int(cents)))
        table = CustomerRedemptionCount.__table__
        self.session.execute(table.delete().where(table.c.campaign_id.in_(ids)))
        counts = select(Redemption.campaign_id, Redemption.customer_id, func.count()).where(
            Redemption.campaign_id.in_(ids), live).group_by(Redemption.campaign_id, Redemption.customer_id)
        self.session.execute(table.insert().from_select(["campaign_id", "customer_id", "redeemed"], counts))

    # --- coupon codes -----------------------------------------------------------------------

    def codes(self, codes: Iterable[str]) -> dict[str, CouponCode]:
        """The stored codes among ``codes`` (already upper-case), by code: one indexed lookup."""
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        return {row.code: row for row in self.session.scalars(select(CouponCode).where(CouponCode.code.in_(wanted)))}

    def existing_codes(self, codes: Iterable[str]) -> set[str]:
        return {code for (code,) in rows_where_in(self.session, select(CouponCode.code), CouponCode.code, codes)}

    def add_codes(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(CouponCode.__table__.insert(), list(rows))

    def use_code(self, code_id: int) -> bool:
        done = self.session.execute(update(CouponCode).where(
            CouponCode.id == code_id,
            or_(CouponCode.max_uses.is_(None), CouponCode.uses < CouponCode.max_uses),
        ).values(uses=CouponCode.uses + 1))
        return done.rowcount == 1

    def give_back_code(self, code_id: int) -> None:
        self.session.execute(update(CouponCode).where(CouponCode.id == code_id, CouponCode.uses > 0)
                             .values(uses=CouponCode.uses - 1))

    def codes_page(self, campaign_id: int, *, after: int | None, limit: int) -> list[CouponCode]:
        query = select(CouponCode).where(CouponCode.campaign_id == campaign_id).order_by(CouponCode.id).limit(limit)
        if after is not None:
            query = query.where(CouponCode.id > after)
        return list(self.session.scalars(query))

    def codes_of_customer(self, customer_id: int) -> list[CouponCode]:
        return list(self.session.scalars(select(CouponCode).where(
            CouponCode.customer_id == customer_id,
            or_(CouponCode.max_uses.is_(None), CouponCode.uses < CouponCode.max_uses)).order_by(CouponCode.id)))

    def code_counts(self, campaign_id: int) -> tuple[int, int]:
        """(codes issued, codes with uses left) of a campaign."""
        issued, left = self.session.execute(select(
            func.count(), func.count().filter(and_(or_(CouponCode.max_uses.is_(None),
                                                       CouponCode.uses < CouponCode.max_uses)))
        ).where(CouponCode.campaign_id == campaign_id)).one()
        return int(issued), int(left)

    def require_codes(self, campaign_id: int) -> None:
        self.session.execute(update(Campaign).where(Campaign.id == campaign_id, Campaign.codes_required.is_(False))
                             .values(codes_required=True, revision=Campaign.revision + 1))
