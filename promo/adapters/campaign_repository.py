"""Campaigns, their products and exposures, and redemptions."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from promo.adapters.orm import (
    Campaign,
    CampaignEvent,
    CampaignExposure,
    CampaignProduct,
    Product,
    PromotedStockCursor,
    Redemption,
    StockEvent,
    utcnow,
)
from promo.adapters.repositories import ids_by, insert_new_rows, upsert_rows
from promo.domain.campaigns import PAUSED_BY_STOCK


class CampaignRepository:
    def __init__(self, session: Session):
        self.session = session

    def upsert(self, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Create or replace campaigns by code; return {code: id}."""
        now = utcnow()
        upsert_rows(self.session, Campaign.__table__, [{**row, "updated_at": now} for row in rows], "code")
        return self.ids_for(row["code"] for row in rows)

    def ids_for(self, codes: Iterable[str]) -> dict[str, int]:
        return ids_by(self.session, Campaign.code, Campaign.id, codes)

    def replace_products(self, campaign_id: int, product_ids: Iterable[int]) -> None:
        self.session.execute(delete(CampaignProduct).where(CampaignProduct.campaign_id == campaign_id))
        rows = [{"campaign_id": campaign_id, "product_id": product_id} for product_id in sorted(set(product_ids))]
        if rows:
            self.session.execute(CampaignProduct.__table__.insert(), rows)

    def replace_exposures(self, campaign_id: int, cohorts: dict[int, str]) -> set[int]:
        """The campaign's audience: {customer id: "targeted" or "holdout"}; returns the
        customers it had before."""
        before = set(self.session.scalars(
            delete(CampaignExposure).where(CampaignExposure.campaign_id == campaign_id)
            .returning(CampaignExposure.customer_id)))
        rows = [{"campaign_id": campaign_id, "customer_id": customer_id, "cohort": cohort}
                for customer_id, cohort in sorted(cohorts.items())]
        if rows:
            self.session.execute(CampaignExposure.__table__.insert(), rows)
        return before

    def add_redemptions(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Store the redemptions whose event_id is new; return those event ids."""
        return insert_new_rows(self.session, Redemption.__table__, rows, "event_id")

    # --- campaigns built through the API --------------------------------------------------

    def get(self, code: str) -> Campaign | None:
        return self.session.scalars(select(Campaign).where(Campaign.code == code)).one_or_none()

    def add(self, row: dict[str, Any]) -> Campaign:
        campaign = Campaign(**row)
        self.session.add(campaign)
        self.session.flush()
        return campaign

    def page(self, *, after: str | None, limit: int, status: str | None = None, text: str | None = None,
             source: str | None = None) -> list[Campaign]:
        """Newest first (by id); ``text`` matches the name or description in any case."""
        query = select(Campaign).order_by(Campaign.id.desc()).limit(limit)
        if after is not None:
            query = query.where(Campaign.id < int(after))
        if status is not None:
            query = query.where(Campaign.status == status)
        if source is not None:
            query = query.where(Campaign.source == source)
        if text:
            query = query.where(or_(Campaign.name.icontains(text, autoescape=True),
                                    Campaign.description.icontains(text, autoescape=True),
                                    Campaign.code == text))
        return list(self.session.scalars(query))

    def with_status(self, statuses: Iterable[str]) -> list[Campaign]:
        return list(self.session.scalars(select(Campaign).where(Campaign.status.in_(list(statuses)))
                                         .order_by(Campaign.id)))

    def running(self) -> list[Campaign]:
        """Campaigns live stock concerns: active ones, and those the stock paused (which
        it may resume)."""
        return list(self.session.scalars(
            select(Campaign).where(or_(Campaign.status == "active",
                                       (Campaign.status == "paused") & (Campaign.paused_by == PAUSED_BY_STOCK)))
            .order_by(Campaign.id)))

    def change(self, campaign_id: int, revision: int, values: dict[str, Any]) -> bool:
        """Write ``values`` only if the campaign is still at ``revision`` (and move it on).

        Every edit and transition goes through here: of two processes acting on the same
        campaign at once, exactly one changes it; the other learns it lost (False) and
        writes nothing else."""
        result = self.session.execute(
            update(Campaign).where(Campaign.id == campaign_id, Campaign.revision == revision)
            .values(**values, revision=revision + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False))
        return result.rowcount == 1  # type: ignore[attr-defined]

    def product_ids(self, campaign_id: int) -> list[int]:
        return list(self.session.scalars(select(CampaignProduct.product_id)
                                         .where(CampaignProduct.campaign_id == campaign_id)
                                         .order_by(CampaignProduct.product_id)))

    def product_skus(self, campaign_id: int) -> list[str]:
        return list(self.session.scalars(select(Product.sku).join(CampaignProduct, CampaignProduct.product_id == Product.id)
                                         .where(CampaignProduct.campaign_id == campaign_id)))

    def product_counts(self, campaign_ids: Iterable[int]) -> dict[int, int]:
        query = (select(CampaignProduct.campaign_id, func.count()).where(CampaignProduct.campaign_id.in_(list(campaign_ids)))
                 .group_by(CampaignProduct.campaign_id))
        return {row[0]: row[1] for row in self.session.execute(query)}

    def results(self, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """{campaign id: targeted, held out, redemptions, redeemers}."""
        ids = list(campaign_ids)
        found: dict[int, dict[str, int]] = {i: {"targeted": 0, "holdout": 0, "redemptions": 0, "redeemers": 0}
                                            for i in ids}
        cohorts = (select(CampaignExposure.campaign_id, CampaignExposure.cohort, func.count())
                   .where(CampaignExposure.campaign_id.in_(ids))
                   .group_by(CampaignExposure.campaign_id, CampaignExposure.cohort))
        for campaign_id, cohort, count in self.session.execute(cohorts):
            found[campaign_id]["targeted" if cohort == "targeted" else "holdout"] += count
        redeemed = (select(Redemption.campaign_id, func.count(), func.count(Redemption.customer_id.distinct()))
                    .where(Redemption.campaign_id.in_(ids), Redemption.cancelled_at.is_(None))
                    .group_by(Redemption.campaign_id))
        for campaign_id, count, people in self.session.execute(redeemed):
            found[campaign_id]["redemptions"] = count
            found[campaign_id]["redeemers"] = people
        return found

    def mean_redemption_rate(self) -> float | None:
        """Redeemers over targeted customers across ended campaigns, or None without any."""
        targeted = self.session.scalar(
            select(func.count()).select_from(CampaignExposure).join(Campaign, Campaign.id == CampaignExposure.campaign_id)
            .where(Campaign.status == "ended", CampaignExposure.cohort == "targeted"))
        if not targeted:
            return None
        redeemers = self.session.scalar(
            select(func.count()).select_from(
                select(Redemption.campaign_id, Redemption.customer_id).distinct()
                .join(Campaign, Campaign.id == Redemption.campaign_id).where(Campaign.status == "ended").subquery()))
        return float(redeemers or 0) / float(targeted)

    # --- products by rule ---------------------------------------------------------------------

    def products_matching(self, *, categories: Iterable[str] = (), brands: Iterable[str] = ()) -> dict[int, str]:
        """{product id: sku} of the products in any of ``categories`` or ``brands`` (any case)."""
        conditions = []
        wanted_categories = sorted({c.lower() for c in categories})
        wanted_brands = sorted({b.lower() for b in brands})
        if wanted_categories:
            conditions.append(func.lower(Product.category).in_(wanted_categories))
        if wanted_brands:
            conditions.append(func.lower(Product.brand).in_(wanted_brands))
        if not conditions:
            return {}
        return {row[0]: row[1] for row in self.session.execute(select(Product.id, Product.sku).where(or_(*conditions)))}

    # --- the audit log ----------------------------------------------------------------------

    def add_event(self, campaign_id: int, *, actor: str, action: str, reason: str | None = None,
                  before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                  stock_seq: int | None = None, details: dict[str, Any] | None = None) -> None:
        self.session.add(CampaignEvent(campaign_id=campaign_id, actor=actor, action=action, reason=reason,
                                       before=before, after=after, stock_seq=stock_seq, details=details or {},
                                       at=utcnow()))

    def events(self, campaign_id: int, *, after: str | None, limit: int) -> list[CampaignEvent]:
        """Oldest first, in the order they happened."""
        query = (select(CampaignEvent).where(CampaignEvent.campaign_id == campaign_id)
                 .order_by(CampaignEvent.id).limit(limit))
        if after is not None:
            query = query.where(CampaignEvent.id > int(after))
        return list(self.session.scalars(query))

    def latest_events(self, campaign_id: int, limit: int) -> tuple[list[CampaignEvent], int]:
        """The newest ``limit`` events, newest first, and how many there are in all."""
        where = CampaignEvent.campaign_id == campaign_id
        total = int(self.session.scalar(select(func.count()).select_from(CampaignEvent).where(where)) or 0)
        query = select(CampaignEvent).where(where).order_by(CampaignEvent.id.desc()).limit(limit)
        return list(self.session.scalars(query)), total

    # --- the promoted-stock watch's cursor ----------------------------------------------------

    def stock_cursor(self) -> int | None:
        return self.session.scalar(select(PromotedStockCursor.stock_seq).where(PromotedStockCursor.id == 1))

    def start_stock_cursor(self, seq: int) -> None:
        insert_new_rows(self.session, PromotedStockCursor.__table__,
                        [{"id": 1, "stock_seq": seq, "updated_at": utcnow()}], "id")

    def move_stock_cursor(self, seen: int, to: int) -> bool:
        """Move the cursor from ``seen`` to ``to``; False if another process moved it first."""
        result = self.session.execute(
            update(PromotedStockCursor).where(PromotedStockCursor.id == 1, PromotedStockCursor.stock_seq == seen)
            .values(stock_seq=to, updated_at=utcnow()).execution_options(synchronize_session=False))
        return result.rowcount == 1  # type: ignore[attr-defined]

    def stock_moves(self, after: int, until: int, product_ids: Iterable[int]
                    ) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """{(product, location): [(seq, change of on hand - reserved - safety stock), ...]}
        of the events after ``after`` up to ``until`` that moved it, for these products,
        in sequence order."""
        wanted = list(product_ids)
        if not wanted:
            return {}
        change = StockEvent.delta_on_hand - StockEvent.delta_reserved - StockEvent.delta_safety_stock
        rows = self.session.execute(
            select(StockEvent.product_id, StockEvent.location_id, StockEvent.seq, change)
            .where(StockEvent.seq > after, StockEvent.seq <= until, StockEvent.product_id.in_(wanted), change != 0)
            .order_by(StockEvent.seq))
        moves: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for product_id, location_id, seq, delta in rows:
            moves.setdefault((product_id, location_id), []).append((int(seq), int(delta)))
        return moves
