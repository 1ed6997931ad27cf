"""Compact reads behind each process's serving snapshot: what changed (cheap version
queries asked every tick), and the rows to rebuild a part when it did."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Iterable, Sequence

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from promo.adapters.bulk import rows_where_in
from promo.adapters.orm import (Campaign, CampaignProduct, Customer, CustomerProfile, CustomerRedemptionCount, Product,
                               Redemption)


@dataclasses.dataclass(frozen=True)
class Versions:
    """What the serving snapshot's parts derive from, asked in one statement."""

    campaigns: tuple[int, int]              # count, sum of revisions: moves with every change
    products_changed_at: dt.datetime | None
    customers_changed_at: dt.datetime | None
    profiles_changed_at: dt.datetime | None
    redemptions: tuple[int, float, int]     # the live campaigns' redemptions and discount counters, latest id


def versions(session: Session, live_campaign_ids: Sequence[int]) -> Versions:
    def scalar(query: Any) -> Any:
        return query.scalar_subquery()

    # Redemptions change the version through the live campaigns' counters (which every
    # redemption and cancellation moves) and the newest redemption's id (a row written by
    # any other path): both read in constant time, where counting the rows grew with them
    # and ran every serving_refresh_ms in every worker.
    live = Campaign.id.in_(list(live_campaign_ids)) if live_campaign_ids else false()
    row = session.execute(select(
        scalar(select(func.count()).select_from(Campaign)),
        scalar(select(func.coalesce(func.sum(Campaign.revision), 0))),
        scalar(select(func.max(Product.updated_at))),
        scalar(select(func.max(Customer.updated_at))),
        scalar(select(func.max(CustomerProfile.updated_at))),
        scalar(select(func.coalesce(func.sum(Campaign.redeemed_count), 0)).where(live)),
        scalar(select(func.coalesce(func.sum(Campaign.discount_spent_cents), 0)).where(live)),
        scalar(select(func.coalesce(func.max(Redemption.id), 0))),
    )).one()
    return Versions((int(row[0]), int(row[1])), _utc(row[2]), _utc(row[3]), _utc(row[4]),
                    (int(row[5]), float(row[6]), int(row[7])))


def _utc(value: Any) -> dt.datetime | None:
    """A max() of a UTC column comes back raw (naive, or text on SQLite)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def active_campaigns(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).where(Campaign.status == "active").order_by(Campaign.id)))


def campaign_products(session: Session, campaign_ids: Sequence[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {id_: [] for id_ in campaign_ids}
    query = select(CampaignProduct.campaign_id, CampaignProduct.product_id)
    for campaign_id, product_id in rows_where_in(session, query, CampaignProduct.campaign_id, campaign_ids):
        found[campaign_id].append(product_id)
    return found


def product_details(session: Session, product_ids: Iterable[int]) -> list[tuple[int, str, str, str | None, float, str]]:
    """(id, sku, name, category, price, currency) of each product."""
    query = select(Product.id, Product.sku, Product.name, Product.category, Product.price, Product.currency)
    return [tuple(row) for row in rows_where_in(session, query, Product.id, product_ids)]  # type: ignore[misc]


def campaign_counters(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[int, float]]:
    """{campaign id: (redemptions, discount taken)} from the counters every redemption and
    cancellation moves in its own transaction (the ones its cap and budget are held by):
    one row a campaign, however many redemptions it has."""
    query = select(Campaign.id, Campaign.redeemed_count, Campaign.discount_spent_cents)
    return {cid: (int(count), int(cents) / 100) for cid, count, cents in rows_where_in(
        session, query, Campaign.id, campaign_ids)}


def redemptions_after(session: Session, after_id: int, campaign_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """(id, campaign id, customer id) of the standing redemptions of these campaigns with an
    id above ``after_id``: what was added since the last read (by the primary key)."""
    if not campaign_ids:
        return []
    query = (select(Redemption.id, Redemption.campaign_id, Redemption.customer_id)
             .where(Redemption.id > after_id, Redemption.cancelled_at.is_(None),
                    Redemption.campaign_id.in_(list(campaign_ids))))
    return [(int(id_), int(cid), int(customer)) for id_, cid, customer in session.execute(query)]


def newest_redemption_id(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(Redemption.id), 0))).scalar_one())


def redemptions_by_customer(session: Session, campaign_id: int) -> dict[int, int]:
    """{customer id: standing redemptions} of a campaign, from the per-customer counters
    its per-customer limit is held by."""
    query = select(CustomerRedemptionCount.customer_id, CustomerRedemptionCount.redeemed).where(
        CustomerRedemptionCount.campaign_id == campaign_id, CustomerRedemptionCount.redeemed > 0)
    return {int(customer): int(n) for customer, n in session.execute(query)}


def customers(session: Session, changed_since: dt.datetime | None = None) -> list[Any]:
    """(id, external id, opted out) of every customer, or of those changed since a time."""
    query = select(Customer.id, Customer.external_id, Customer.opted_out)
    if changed_since is not None:
        query = query.where(Customer.updated_at >= changed_since)
    return list(session.execute(query))


def profile_stamps(session: Session, changed_since: dt.datetime | None = None) -> list[Any]:
    """(customer id, when their profile was last rewritten) of every profile, or of those
    rewritten since a time: a profile is rewritten by every interaction of its customer."""
    query = select(CustomerProfile.customer_id, CustomerProfile.updated_at)
    if changed_since is not None:
        query = query.where(CustomerProfile.updated_at >= changed_since)
    return list(session.execute(query))
