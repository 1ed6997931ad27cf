"""Compact reads behind each process's serving snapshot: what changed (cheap version
queries asked every tick), and the rows to rebuild a part when it did."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promo.adapters.bulk import rows_where_in
from promo.adapters.orm import Campaign, CampaignProduct, Customer, Product, Redemption


def campaigns_version(session: Session) -> tuple[int, int]:
    """Changes with every campaign created, edited or moved (each bumps its revision)."""
    count, revisions = session.execute(select(func.count(), func.coalesce(func.sum(Campaign.revision), 0))).one()
    return int(count), int(revisions)


def products_changed_at(session: Session) -> dt.datetime | None:
    return session.scalar(select(func.max(Product.updated_at)))


def customers_changed_at(session: Session) -> dt.datetime | None:
    return session.scalar(select(func.max(Customer.updated_at)))


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


def redemption_totals(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[int, float]]:
    """{campaign id: (redemptions, discount taken)} for those with any."""
    if not campaign_ids:
        return {}
    query = (select(Redemption.campaign_id, func.count(), func.coalesce(func.sum(Redemption.discount_total), 0))
             .group_by(Redemption.campaign_id))
    return {cid: (int(n), float(spent)) for cid, n, spent in rows_where_in(session, query, Redemption.campaign_id,
                                                                            campaign_ids)}


def redemptions_by_customer(session: Session, campaign_id: int) -> dict[int, int]:
    query = (select(Redemption.customer_id, func.count()).where(Redemption.campaign_id == campaign_id)
             .group_by(Redemption.customer_id))
    return {customer: int(n) for customer, n in session.execute(query)}


def customers(session: Session, changed_since: dt.datetime | None = None) -> list[Any]:
    """(id, external id, opted out) of every customer, or of those changed since a time."""
    query = select(Customer.id, Customer.external_id, Customer.opted_out)
    if changed_since is not None:
        query = query.where(Customer.updated_at >= changed_since)
    return list(session.execute(query))
