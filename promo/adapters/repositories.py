"""Repositories: the only place that knows how aggregates are stored.

Bulk writes use one statement per batch (INSERT .. ON CONFLICT), the same on SQLite and
PostgreSQL; rows are sorted by key first so that concurrent batches lock rows in the
same order on PostgreSQL and cannot deadlock each other.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

from sqlalchemy import Table, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from promo.adapters.bulk import postgres_insert_new, rows_where_in, sqlite_insert
from promo.adapters.orm import (
    ActiveModel,
    ApiKey,
    Customer,
    CustomerProfile,
    DatasetTimeline,
    FailedAttempt,
    Interaction,
    Location,
    Product,
    StaffUser,
    utcnow,
)


def _insert(session: Session, table: Table):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def upsert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], key: str) -> None:
    """Insert rows, or update every given column of the row with the same ``key``."""
    if not rows:
        return
    rows = sorted(rows, key=lambda row: row[key])
    stmt = _insert(session, table)
    columns = [name for name in rows[0] if name != key]
    stmt = stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in columns})
    session.execute(stmt, rows)


def insert_new_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], key: str) -> set[Any]:
    """Insert the rows whose ``key`` is not stored yet; return the keys actually inserted."""
    if not rows:
        return set()
    rows = sorted(rows, key=lambda row: row[key])
    stmt = _insert(session, table).on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
    return set(session.scalars(stmt, rows).all())


def ids_by(session: Session, key_column: Any, id_column: Any, keys: Iterable[Any]) -> dict[Any, Any]:
    """{key: id} for the keys that exist (``id_column`` may be any column to map to)."""
    return dict(rows_where_in(session, select(key_column, id_column), key_column, keys))


class ProductRepository:
    def __init__(self, session: Session):
        self.session = session

    def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        now = utcnow()
        upsert_rows(self.session, Product.__table__, [{**row, "updated_at": now} for row in rows], "sku")

    def get(self, sku: str) -> Product | None:
        return self.session.scalars(select(Product).where(Product.sku == sku)).one_or_none()

    def prices(self, product_ids: Iterable[int]) -> list[tuple[int, float, str]]:
        """(id, price, currency) of each product."""
        query = select(Product.id, Product.price, Product.currency)
        return [tuple(row) for row in rows_where_in(self.session, query, Product.id, product_ids)]  # type: ignore[misc]

    def page(self, *, after: str | None, limit: int, category: str | None = None, brand: str | None = None,
             text: str | None = None) -> list[Product]:
        """Category and brand match in any letter case, as people type them."""
        query = select(Product).order_by(Product.sku).limit(limit)
        if after is not None:
            query = query.where(Product.sku > after)
        if category is not None:
            query = query.where(func.lower(Product.category) == category.lower())
        if brand is not None:
            query = query.where(func.lower(Product.brand) == brand.lower())
        if text:
            query = query.where(Product.name.icontains(text, autoescape=True))
        return list(self.session.scalars(query))

    def ids_for(self, skus: Iterable[str]) -> dict[str, int]:
        return ids_by(self.session, Product.sku, Product.id, skus)

    def search(self, text: str, limit: int) -> list[Product]:
        """Products whose sku, name, category or brand holds the text, in any letter case;
        an exact sku first."""
        words = [Product.sku, Product.name, Product.category, Product.brand]
        query = (select(Product).where(or_(*(column.icontains(text, autoescape=True) for column in words)))
                 .order_by((func.lower(Product.sku) == text.lower()).desc(), Product.name, Product.sku).limit(limit))
        return list(self.session.scalars(query))

    def groups_matching(self, column: str, text: str, limit: int) -> list[tuple[str, int]]:
        """(category or brand, products in it) for those holding the text, biggest first."""
        field = getattr(Product, column)
        query = (select(field, func.count()).where(field.icontains(text, autoescape=True))
                 .group_by(field).order_by(func.count().desc(), field).limit(limit))
        return [(str(name), int(n)) for name, n in self.session.execute(query)]

    def by_skus(self, skus: Iterable[str]) -> dict[str, Product]:
        return {p.sku: p for p in self.session.scalars(select(Product).where(Product.sku.in_(list(set(skus)))))}

    def summaries(self, ids: Iterable[int]) -> dict[int, tuple[str, str | None, float, str]]:
        """{id: (name, category, price, currency)}: what a shop shows of a product."""
        query = select(Product.id, Product.name, Product.category, Product.price, Product.currency)
        return {row[0]: tuple(row[1:]) for row in rows_where_in(self.session, query, Product.id, ids)}


class LocationRepository:
    def __init__(self, session: Session):
        self.session = session

    def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        now = utcnow()
        upsert_rows(self.session, Location.__table__, [{**row, "updated_at": now} for row in rows], "code")

    def get(self, code: str) -> Location | None:
        return self.session.scalars(select(Location).where(Location.code == code)).one_or_none()

    def page(self, *, after: str | None, limit: int, kind: str | None = None) -> list[Location]:
        query = select(Location).order_by(Location.code).limit(limit)
        if after is not None:
            query = query.where(Location.code > after)
        if kind is not None:
            query = query.where(Location.kind == kind)
        return list(self.session.scalars(query))

    def ids_for(self, codes: Iterable[str]) -> dict[str, int]:
        return ids_by(self.session, Location.code, Location.id, codes)

    def codes_by_id(self, ids: Iterable[int]) -> dict[int, str]:
        return ids_by(self.session, Location.id, Location.code, ids)

    def channels_for(self, codes: Iterable[str]) -> dict[str, tuple[int, list[str]]]:
        """{code: (id, the channels it serves)} of the known locations among ``codes``."""
        query = select(Location.code, Location.id, Location.channels)
        return {code: (int(i), list(channels or ())) for code, i, channels in
                rows_where_in(self.session, query, Location.code, set(codes))}


class CustomerRepository:
    def __init__(self, session: Session):
        self.session = session

    def upsert(self, rows: Sequence[dict[str, Any]]) -> None:
        now = utcnow()
        upsert_rows(self.session, Customer.__table__, [{**row, "updated_at": now} for row in rows], "external_id")

    def get(self, external_id: str) -> Customer | None:
        return self.session.scalars(select(Customer).where(Customer.external_id == external_id)).one_or_none()

    def page(self, *, after: str | None, limit: int) -> list[Customer]:
        query = select(Customer).order_by(Customer.external_id).limit(limit)
        if after is not None:
            query = query.where(Customer.external_id > after)
        return list(self.session.scalars(query))

    def ids_for(self, external_ids: Iterable[str]) -> dict[str, int]:
        return ids_by(self.session, Customer.external_id, Customer.id, external_ids)

    def for_serving(self, external_id: str) -> tuple[int | None, bool, dt.datetime | None]:
        """(id, opted out, latest interaction) of a customer, or (None, False, None)."""
        found = self.session.execute(
            select(Customer.id, Customer.opted_out, CustomerProfile.last_seen_at)
            .outerjoin(CustomerProfile, CustomerProfile.customer_id == Customer.id)
            .where(Customer.external_id == external_id)).one_or_none()
        return (found[0], bool(found[1]), found[2]) if found else (None, False, None)

    def opted_out(self, ids: Iterable[int]) -> set[int]:
        """Those of ``ids`` who opted out of personalisation."""
        return {id_ for id_, opted in ids_by(self.session, Customer.id, Customer.opted_out, ids).items() if opted}

    def external_ids(self, ids: Iterable[int]) -> dict[int, str]:
        return ids_by(self.session, Customer.id, Customer.external_id, ids)

    def ensure(self, external_ids: Iterable[str]) -> dict[str, int]:
        """Ids of the given customers, creating the unknown ones with no attributes."""
        wanted = set(external_ids)
        found = self.ids_for(wanted)
        missing = wanted - found.keys()
        if missing:
            now = utcnow()
            insert_new_rows(self.session, Customer.__table__, [
                {"external_id": ext, "attributes": {}, "opted_out": False, "created_at": now, "updated_at": now}
                for ext in missing
            ], "external_id")
            found.update(self.ids_for(missing))
        return found


class InteractionRepository:
    def __init__(self, session: Session):
        self.session = session

    _TIMES = frozenset({"occurred_at", "recorded_at"})
    _PG_TYPES = {"event_id": "text", "customer_id": "integer", "product_id": "integer", "type": "text",
                 "quantity": "integer", "value": "numeric", "discount": "numeric", "coupon_discount": "numeric",
                 "channel": "text", "location_id": "integer", "occurred_at": "timestamp",
                 "recorded_at": "timestamp", "recommendation_id": "text"}

    def add_new(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store the interactions whose event_id is new; return how many were."""
        now = utcnow()
        rows = [{**row, "recorded_at": now} for row in rows]
        if self.session.get_bind().dialect.name == "postgresql":
            return postgres_insert_new(self.session, "interactions", rows, self._TIMES, "event_id", self._PG_TYPES)
        return sqlite_insert(self.session, "interactions", rows, self._TIMES, ignore_existing=True)

    def newer_than(self, customer_id: int, since: dt.datetime | None, limit: int = 1000) -> list[tuple[Any, ...]]:
        """The customer's latest interactions after ``since`` (all when None), newest
        first: (product_id, type, quantity, occurred_at)."""
        query = (select(Interaction.product_id, Interaction.type, Interaction.quantity, Interaction.occurred_at)
                 .where(Interaction.customer_id == customer_id)
                 .order_by(Interaction.occurred_at.desc()).limit(limit))
        if since is not None:
            query = query.where(Interaction.occurred_at > since)
        return [tuple(row) for row in self.session.execute(query)]

    def any_with_prefix(self, prefix: str) -> bool:
        """Whether some event_id starts with ``prefix``. (LIKE, not a range on the index:
        under a linguistic collation PostgreSQL orders ids ignoring punctuation.)"""
        return self.session.scalar(select(Interaction.id).where(
            Interaction.event_id.startswith(prefix, autoescape=True)).limit(1)) is not None

    def purchased_among(self, customer_id: int, product_ids: Iterable[int]) -> set[int]:
        """Those of ``product_ids`` the customer ever bought."""
        query = select(Interaction.product_id).distinct().where(
            Interaction.customer_id == customer_id, Interaction.type == "purchase")
        return {row[0] for row in rows_where_in(self.session, query, Interaction.product_id, product_ids)}

    def latest_purchase_at(self) -> dt.datetime | None:
        return self.session.scalar(select(func.max(Interaction.occurred_at)).where(Interaction.type == "purchase"))

    def popular_products(self, since: dt.datetime, *, location_id: int | None = None,
                         limit: int = 1000) -> list[tuple[int, int]]:
        """(product_id, purchases) of the most bought products since ``since``."""
        purchases = func.count().label("purchases")
        query = (select(Interaction.product_id, purchases)
                 .where(Interaction.type == "purchase", Interaction.occurred_at >= since)
                 .group_by(Interaction.product_id).order_by(purchases.desc(), Interaction.product_id).limit(limit))
        if location_id is not None:
            query = query.where(Interaction.location_id == location_id)
        return [(product_id, count) for product_id, count in self.session.execute(query)]

    def count_for_customer(self, customer_id: int) -> int:
        return self.session.scalar(
            select(func.count()).select_from(Interaction).where(Interaction.customer_id == customer_id)) or 0


class ApiKeyRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, key: ApiKey) -> None:
        self.session.add(key)

    def by_prefix(self, prefix: str) -> ApiKey | None:
        return self.session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()

    def by_name(self, name: str) -> ApiKey | None:
        return self.session.scalars(select(ApiKey).where(ApiKey.name == name)).one_or_none()

    def all(self) -> list[ApiKey]:
        return list(self.session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


class StaffRepository:
    def __init__(self, session: Session):
        self.session = session

    def add(self, user: StaffUser) -> None:
        self.session.add(user)
        self.session.flush()

    def by_email(self, email: str) -> StaffUser | None:
        return self.session.scalars(select(StaffUser).where(StaffUser.email == email)).one_or_none()

    def get(self, user_id: int) -> StaffUser | None:
        return self.session.get(StaffUser, user_id)

    def all(self) -> list[StaffUser]:
        return list(self.session.scalars(select(StaffUser).order_by(StaffUser.email)))


class FailedAttemptRepository:
    def __init__(self, session: Session):
        self.session = session

    def latest(self, kind: str, subject: str, since: dt.datetime, limit: int) -> list[dt.datetime]:
        """When ``subject`` failed since ``since``, newest first, at most ``limit`` of them."""
        return list(self.session.scalars(
            select(FailedAttempt.at).where(FailedAttempt.kind == kind, FailedAttempt.subject == subject,
                                           FailedAttempt.at > since)
            .order_by(FailedAttempt.at.desc()).limit(limit)))

    def add(self, kind: str, subjects: Iterable[str], count: int, at: dt.datetime) -> None:
        self.session.add_all([FailedAttempt(kind=kind, subject=subject, at=at)
                              for subject in subjects for _ in range(count)])

    def forget_before(self, kind: str, cutoff: dt.datetime) -> None:
        self.session.execute(delete(FailedAttempt).where(FailedAttempt.kind == kind, FailedAttempt.at <= cutoff))


class ActiveModelRepository:
    def __init__(self, session: Session):
        self.session = session

    def version(self, name: str) -> str | None:
        return self.session.scalar(select(ActiveModel.version).where(ActiveModel.name == name))

    def all(self) -> dict[str, str]:
        return {name: version for name, version in self.session.execute(select(ActiveModel.name, ActiveModel.version))}

    def activate(self, name: str, version: str) -> None:
        upsert_rows(self.session, ActiveModel.__table__,
                    [{"name": name, "version": version, "activated_at": utcnow()}], "name")


class DatasetTimelineRepository:
    def __init__(self, session: Session):
        self.session = session

    def get(self, dataset: str) -> DatasetTimeline | None:
        return self.session.get(DatasetTimeline, dataset)

    def record(self, dataset: str, shift_days: int, last_day: dt.date) -> None:
        """Keep the first shift recorded: a dataset's rows must all move alike."""
        stmt = _insert(self.session, DatasetTimeline.__table__).on_conflict_do_nothing(index_elements=["dataset"])
        self.session.execute(stmt, [{"dataset": dataset, "shift_days": shift_days, "last_day": last_day,
                                     "recorded_at": utcnow()}])
