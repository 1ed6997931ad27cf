"""The reads behind a campaign's report: what was served, clicked and redeemed, by channel
and location, and who bought its products while it ran."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from promo.adapters.orm import CampaignProduct, Customer, Interaction, OfferEvent, Redemption, ServedExposure


def exposures(session: Session, campaign_id: int) -> list[tuple[str, str, int | None, int, int]]:
    """(cohort, channel, location id, lists served, distinct customers) per group."""
    query = (select(ServedExposure.cohort, ServedExposure.channel, ServedExposure.location_id, func.count(),
                    func.count(ServedExposure.customer.distinct()))
             .where(ServedExposure.campaign_id == campaign_id)
             .group_by(ServedExposure.cohort, ServedExposure.channel, ServedExposure.location_id))
    return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def offer_events(session: Session, campaign_id: int) -> dict[str, int]:
    """{event type: count} of clicks and dismissals of the campaign's offers, found by the
    offer ids they cite (off-<32 hex>-<campaign id>-<product id>)."""
    pattern = "off-" + "_" * 32 + f"-{campaign_id}-%"
    query = (select(OfferEvent.type, func.count()).where(OfferEvent.offer_id.like(pattern))
             .group_by(OfferEvent.type))
    return {kind: int(n) for kind, n in session.execute(query)}


def redemptions(session: Session, campaign_id: int) -> list[tuple[Any, ...]]:
    """(channel, location id, cancelled, redemptions, redeemers, revenue, discount, citing an offer)
    per group."""
    cancelled = Redemption.cancelled_at.is_not(None)
    query = (select(Redemption.channel, Redemption.location_id, cancelled, func.count(),
                    func.count(Redemption.customer_id.distinct()), func.coalesce(func.sum(Redemption.revenue), 0),
                    func.coalesce(func.sum(Redemption.discount_total), 0), func.count(Redemption.offer_id))
             .where(Redemption.campaign_id == campaign_id)
             .group_by(Redemption.channel, Redemption.location_id, cancelled))
    return [tuple(row) for row in session.execute(query)]


def redemptions_by_day(session: Session, campaign_id: int) -> list[tuple[dt.date, int, float]]:
    """(UTC day, redemptions, discount) per day with a redemption not cancelled, in order.
    Days are cut in Python: SQLite and PostgreSQL truncate dates differently."""
    query = (select(Redemption.redeemed_at, Redemption.discount_total)
             .where(Redemption.campaign_id == campaign_id, Redemption.cancelled_at.is_(None)))
    days: dict[dt.date, list[float]] = {}
    for at, discount in session.execute(query):
        day = days.setdefault(at.date(), [0, 0.0])      # UTCDateTime: already UTC
        day[0] += 1
        day[1] += float(discount or 0)
    return [(day, int(n), round(spent, 2)) for day, (n, spent) in sorted(days.items())]


def redeemers(session: Session, campaign_id: int) -> int:
    return int(session.scalar(select(func.count(Redemption.customer_id.distinct())).where(
        Redemption.campaign_id == campaign_id, Redemption.cancelled_at.is_(None))) or 0)


def redeemed_after_exposure(session: Session, campaign_id: int) -> int:
    """Redemptions (not cancelled) by customers the campaign was served to before they redeemed."""
    exposed = (select(ServedExposure.id).where(
        ServedExposure.campaign_id == campaign_id, ServedExposure.customer == Customer.external_id,
        ServedExposure.served_at <= Redemption.redeemed_at, ServedExposure.cohort != "holdout").exists())
    query = (select(func.count()).select_from(Redemption).join(Customer, Customer.id == Redemption.customer_id)
             .where(Redemption.campaign_id == campaign_id, Redemption.cancelled_at.is_(None), exposed))
    return int(session.scalar(query) or 0)


def buyers_of_promoted(session: Session, campaign_id: int, start: dt.datetime, end: dt.datetime
                       ) -> dict[int, float]:
    """{customer id: what they spent on the campaign's products} for every customer who
    bought one of them in [start, end)."""
    query = (select(Interaction.customer_id, func.coalesce(func.sum(Interaction.value), 0))
             .join(CampaignProduct, and_(CampaignProduct.product_id == Interaction.product_id,
                                         CampaignProduct.campaign_id == campaign_id))
             .where(Interaction.type == "purchase", Interaction.occurred_at >= start, Interaction.occurred_at < end)
             .group_by(Interaction.customer_id))
    return {int(customer): float(spent) for customer, spent in session.execute(query)}
