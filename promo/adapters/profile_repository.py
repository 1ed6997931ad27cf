"""Customer profiles: recomputed from the interaction and redemption history.

A refresh aggregates the whole history of the customers it is given (the interactions
index on (customer_id, occurred_at) keeps that a range scan per customer) and replaces
their rows. Recomputing instead of incrementing makes a refresh idempotent: repeated,
late or out-of-order events cannot skew a profile.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from promo.adapters.orm import (
    CampaignExposure,
    Customer,
    CustomerProfile,
    Interaction,
    Product,
    Redemption,
    utcnow,
)
from promo.adapters.repositories import upsert_rows

# Customers refreshed per group of statements (bounded IN lists on both databases).
REFRESH_CHUNK = 500
# How many categories, brands and locations a profile keeps.
TOP = 5

_PURCHASE = Interaction.type == "purchase"


def _when_purchase(value: Any, otherwise: Any = 0) -> Any:
    return case((_PURCHASE, value), else_=otherwise)


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    # Aggregates (min/max) bypass the column type, so attach the zone ourselves.
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns aggregated datetimes as text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


class ProfileRepository:
    def __init__(self, session: Session):
        self.session = session

    def get(self, customer_id: int) -> CustomerProfile | None:
        return self.session.get(CustomerProfile, customer_id)

    def clock(self) -> dt.datetime | None:
        """The latest interaction any profile has seen: the reference time for segments
        (in live use, about now; on a replayed or historical data set, its own present)."""
        return _as_utc(self.session.scalar(select(func.max(CustomerProfile.last_seen_at))))

    def page(self, *, after: str | None, limit: int) -> list[tuple[Customer, CustomerProfile | None]]:
        query = (select(Customer, CustomerProfile)
                 .outerjoin(CustomerProfile, CustomerProfile.customer_id == Customer.id)
                 .order_by(Customer.external_id).limit(limit))
        if after is not None:
            query = query.where(Customer.external_id > after)
        return [(customer, profile) for customer, profile in self.session.execute(query)]

    def all_customer_ids(self) -> list[int]:
        return list(self.session.scalars(select(Customer.id).order_by(Customer.id)))

    def with_history_ids(self) -> list[tuple[int, str, bool]]:
        """(id, external id, opted out) of every customer with any history, by id: the
        candidates of every campaign audience."""
        return [(i, e, bool(o)) for i, e, o in self.session.execute(
            _with_history_query([Customer.id, Customer.external_id, Customer.opted_out]))]

    def with_history(self, *, categories: bool = False) -> list[Any]:
        """Every customer with any history, by id: rows with ``id``, ``external_id``,
        ``opted_out`` and the profile figures segments read (promo.domain.profiles.
        ProfileFacts), plus ``top_categories`` if asked (JSON to decode: the slow part).
        Plain rows, not mapped objects: an audience reads thousands of them."""
        names = TARGETING_FIGURES + (("top_categories",) if categories else ())
        return list(self.session.execute(_with_history_query(
            [Customer.id, Customer.external_id, Customer.opted_out,
             *(getattr(CustomerProfile, name) for name in names)])))

    def refresh(self, customer_ids: Iterable[int]) -> int:
        """Recompute the profiles of these customers; return how many were written.

        On PostgreSQL the customers' rows are locked first (in id order, FOR NO KEY
        UPDATE, which the foreign-key checks of concurrent inserts do not conflict with):
        two transactions adding history for the same customer then refresh one after the
        other, and the second one reads the first one's rows. Without the lock each would
        read only its own uncommitted rows and the last to commit would win, short of the
        other's. (SQLite writers are serialised already.)
        """
        ids = sorted(set(customer_ids))
        for chunk in _chunks(ids, REFRESH_CHUNK):
            if self.session.get_bind().dialect.name == "postgresql":
                self.session.execute(select(Customer.id).where(Customer.id.in_(chunk))
                                     .order_by(Customer.id).with_for_update(key_share=True)).all()   # FOR NO KEY UPDATE
            upsert_rows(self.session, CustomerProfile.__table__, self._profiles(chunk), "customer_id")
        return len(ids)

    def _profiles(self, ids: list[int]) -> list[dict[str, Any]]:
        now = utcnow()
        rows = {customer_id: _empty_profile(customer_id, now) for customer_id in ids}
        for customer_id, *figures in self.session.execute(self._totals_query(ids)):
            rows[customer_id].update(zip(_TOTALS, figures))
        for customer_id, channel, visits in self.session.execute(self._visits_by(Interaction.channel, ids)):
            rows[customer_id]["channels"][channel] = visits
        for customer_id, ranked in self._top(self._visits_by(Interaction.location_id, ids)).items():
            rows[customer_id]["top_locations"] = [{"location_id": key, "visits": n} for key, n in ranked]
        for column, field in ((Product.category, "top_categories"), (Product.brand, "top_brands")):
            for customer_id, ranked in self._top(self._spend_by(column, ids)).items():
                total = rows[customer_id]["spend"] or 0.0
                rows[customer_id][field] = [
                    {"name": key, "spend": round(spend, 2), "share": round(spend / total, 3) if total > 0 else None}
                    for key, spend in ranked]
        exposures = select(CampaignExposure.customer_id, func.count()).where(
            CampaignExposure.customer_id.in_(ids), CampaignExposure.cohort == "targeted",
        ).group_by(CampaignExposure.customer_id)
        for customer_id, count in self.session.execute(exposures):
            rows[customer_id]["exposures"] = count
        redemptions = select(Redemption.customer_id, func.count(), func.max(Redemption.redeemed_at)).where(
            Redemption.customer_id.in_(ids), Redemption.cancelled_at.is_(None)).group_by(Redemption.customer_id)
        for customer_id, count, last in self.session.execute(redemptions):
            rows[customer_id]["redemptions"] = count
            rows[customer_id]["last_redemption_at"] = _as_utc(last)
        for row in rows.values():
            for name in _TIMES:
                row[name] = _as_utc(row[name])
            for name in _MONEY:
                row[name] = round(float(row[name] or 0), 2)
            for name in _COUNTS:
                row[name] = int(row[name] or 0)
        return list(rows.values())

    @staticmethod
    def _totals_query(ids: list[int]) -> Any:
        return select(
            Interaction.customer_id,
            func.min(Interaction.occurred_at),
            func.max(Interaction.occurred_at),
            func.min(_when_purchase(Interaction.occurred_at, None)),
            func.max(_when_purchase(Interaction.occurred_at, None)),
            func.count(distinct(_when_purchase(Interaction.occurred_at, None))),
            func.sum(_when_purchase(1)),
            func.sum(_when_purchase(Interaction.quantity)),
            func.sum(_when_purchase(func.coalesce(Interaction.value, 0))),
            func.sum(_when_purchase(func.coalesce(Interaction.discount, 0))),
            func.sum(_when_purchase(func.coalesce(Interaction.coupon_discount, 0))),
            func.sum(case((_PURCHASE & (Interaction.coupon_discount > 0), 1), else_=0)),
            func.sum(case((Interaction.type == "view", 1), else_=0)),
            func.sum(case((Interaction.type == "cart", 1), else_=0)),
        ).where(Interaction.customer_id.in_(ids)).group_by(Interaction.customer_id)

    @staticmethod
    def _visits_by(column: Any, ids: list[int]) -> Any:
        return (select(Interaction.customer_id, column, func.count(distinct(Interaction.occurred_at)))
                .where(Interaction.customer_id.in_(ids), _PURCHASE, column.is_not(None))
                .group_by(Interaction.customer_id, column))

    @staticmethod
    def _spend_by(column: Any, ids: list[int]) -> Any:
        return (select(Interaction.customer_id, column, func.sum(func.coalesce(Interaction.value, 0)))
                .join(Product, Product.id == Interaction.product_id)
                .where(Interaction.customer_id.in_(ids), _PURCHASE, column.is_not(None))
                .group_by(Interaction.customer_id, column))

    def _top(self, query: Any) -> dict[int, list[tuple[Any, Any]]]:
        """{customer: the TOP (key, figure) pairs, largest first, ties by key}."""
        grouped: dict[int, list[tuple[Any, Any]]] = defaultdict(list)
        for customer_id, key, figure in self.session.execute(query):
            grouped[customer_id].append((key, float(figure) if not isinstance(figure, int) else figure))
        return {customer_id: sorted(pairs, key=lambda pair: (-pair[1], str(pair[0])))[:TOP]
                for customer_id, pairs in grouped.items()}


_TOTALS = ("first_seen_at", "last_seen_at", "first_purchase_at", "last_purchase_at", "visits", "purchase_lines",
           "items", "spend", "discount", "coupon_discount", "coupon_lines", "views", "carts")
_TIMES = ("first_seen_at", "last_seen_at", "first_purchase_at", "last_purchase_at", "last_redemption_at")
_MONEY = ("spend", "discount", "coupon_discount")
_COUNTS = ("visits", "purchase_lines", "items", "coupon_lines", "views", "carts", "exposures", "redemptions")


def _empty_profile(customer_id: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "customer_id": customer_id, "first_seen_at": None, "last_seen_at": None, "first_purchase_at": None,
        "last_purchase_at": None, "visits": 0, "purchase_lines": 0, "items": 0, "spend": 0.0, "discount": 0.0,
        "coupon_discount": 0.0, "coupon_lines": 0, "views": 0, "carts": 0, "exposures": 0, "redemptions": 0,
        "last_redemption_at": None, "channels": {}, "top_locations": [], "top_categories": [], "top_brands": [],
        "updated_at": now,
    }



# The profile columns segments and targeting conditions read.
TARGETING_FIGURES = ("first_seen_at", "first_purchase_at", "last_purchase_at", "visits", "spend", "coupon_lines",
                     "redemptions", "views", "carts")


def _with_history_query(columns: Sequence[Any]) -> Any:
    return (select(*columns).join(CustomerProfile, CustomerProfile.customer_id == Customer.id)
            .where(CustomerProfile.last_seen_at.is_not(None)).order_by(Customer.id))
