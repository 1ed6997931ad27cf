"""Compact reads for the audience scorer: purchases, customers and products as numpy
arrays, and the cheap checks that tell the scorer what changed since it last looked.

Purchases are read through the driver's own cursor in chunks turned into arrays chunk by
chunk: a cold build of 1.5M purchases never holds them all as Python objects at once
(the old from-scratch read left ~200 MB behind in every worker that scored an audience),
and skips SQLAlchemy's row objects, which cost more than the query itself.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from promo.adapters.bulk import naive_utc, sqlite_time
from promo.adapters.scans import small_page_cache
from promo.adapters.training_data import SQLITE_IN_CHUNK, _epoch_ms, _times
from promo.ml.frames import DEMOGRAPHIC_COLUMNS, check_columns

FETCH_CHUNK = 50_000
MS_PER_DAY = 86_400_000


@dataclasses.dataclass
class PurchaseRows:
    """Purchase interactions as columns (discount and coupon as positive amounts)."""

    id: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    occurred_ms: np.ndarray
    value: np.ndarray
    discount: np.ndarray
    coupon: np.ndarray

    @property
    def day(self) -> np.ndarray:
        return self.occurred_ms // MS_PER_DAY


def no_purchases() -> PurchaseRows:
    none_i, none_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    return PurchaseRows(none_i, none_i, none_i, none_i, none_f, none_f, none_f)


def join_rows(parts: Sequence[PurchaseRows]) -> PurchaseRows:
    if not parts:
        return no_purchases()
    return PurchaseRows(*[np.concatenate([getattr(p, f.name) for p in parts])
                          for f in dataclasses.fields(PurchaseRows)])


def take_rows(rows: PurchaseRows, keep: Any) -> PurchaseRows:
    return PurchaseRows(*[getattr(rows, f.name)[keep] for f in dataclasses.fields(PurchaseRows)])


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _marker(session: Session) -> str:
    return "%s" if _is_postgres(session) else "?"


def _param(session: Session, value: dt.datetime) -> Any:
    return naive_utc(value) if _is_postgres(session) else sqlite_time(value)


def _raw_rows(session: Session, sql: str, params: Any = ()) -> Iterator[list[tuple[Any, ...]]]:
    """The rows in chunks, from the driver's cursor inside the session's transaction."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        while True:
            rows = cursor.fetchmany(FETCH_CHUNK)
            if not rows:
                return
            yield rows
    finally:
        cursor.close()


def _purchase_select(session: Session) -> str:
    money = "CAST(COALESCE({0}, 0) AS DOUBLE PRECISION)" if _is_postgres(session) else "COALESCE({0}, 0)"
    return (f"SELECT id, customer_id, product_id, {_epoch_ms(session, 'occurred_at')}, "
            f"{money.format('value')}, {money.format('discount')}, {money.format('coupon_discount')} "
            "FROM interactions WHERE type = 'purchase'")


def _fetch(session: Session, sql: str, params: Any = ()) -> PurchaseRows:
    # Ids and epoch milliseconds stay exact as float64 (below 2**53).
    chunks = [np.array(rows, dtype=np.float64) for rows in _raw_rows(session, sql, params)]
    if not chunks:
        return no_purchases()
    table = np.concatenate(chunks)
    del chunks
    ints = table[:, :4].astype(np.int64)
    return PurchaseRows(id=ints[:, 0].copy(), customer=ints[:, 1].copy(), product=ints[:, 2].copy(),
                        occurred_ms=ints[:, 3].copy(), value=table[:, 4].copy(),
                        discount=np.abs(table[:, 5]), coupon=np.abs(table[:, 6]))   # as read_history does


def read_purchases(session: Session, customer_ids: Sequence[int] | None = None) -> PurchaseRows:
    """Every purchase, or those of ``customer_ids``."""
    select = _purchase_select(session)
    if customer_ids is None:
        with small_page_cache(session):
            return _fetch(session, select)
    ids = sorted({int(c) for c in customer_ids})
    if _is_postgres(session):
        return _fetch(session, select + " AND customer_id = ANY(%s)", (ids,))
    return join_rows([_fetch(session, select + f" AND customer_id IN ({', '.join('?' * len(chunk))})", tuple(chunk))
                      for chunk in (ids[i:i + SQLITE_IN_CHUNK] for i in range(0, len(ids), SQLITE_IN_CHUNK))])


def safe_purchase_id(session: Session, before: dt.datetime) -> int:
    """The highest purchase id recorded before ``before`` (0 if none)."""
    found = session.connection().exec_driver_sql(
        f"SELECT MAX(id) FROM interactions WHERE type = 'purchase' AND recorded_at < {_marker(session)}",
        (_param(session, before),)).scalar()
    return int(found or 0)


def purchases_after(session: Session, after_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(id, customer, recorded ms) of the purchases with an id above ``after_id``."""
    marker = "%s" if _is_postgres(session) else "?"
    rows = [row for chunk in _raw_rows(
        session, f"SELECT id, customer_id, {_epoch_ms(session, 'recorded_at')} FROM interactions "
                 f"WHERE id > {marker} AND type = 'purchase'", (int(after_id),)) for row in chunk]
    columns = list(zip(*rows)) if rows else [(), (), ()]
    return tuple(np.asarray(c, dtype=np.int64) for c in columns)  # type: ignore[return-value]


def _since(session: Session, sql: str, since: dt.datetime | None, strict: bool) -> tuple[str, tuple[Any, ...]]:
    if since is None:
        return sql, ()
    return (sql + f" WHERE updated_at {'>' if strict else '>='} " + ("%s" if _is_postgres(session) else "?"),
            (_param(session, since),))


def read_customers_since(session: Session, since: dt.datetime | None, *, strict: bool = False
                         ) -> tuple[pd.DataFrame, dt.datetime | None]:
    """The customers frame (demographics) of customers updated after ``since`` (at or
    after unless ``strict``; all when None), and the latest ``updated_at`` among them."""
    sql, params = _since(session, "SELECT id, attributes, updated_at FROM customers", since, strict)
    records, latest = [], None
    for customer_id, attributes, updated_at in (row for chunk in _raw_rows(session, sql, params) for row in chunk):
        if isinstance(attributes, str):  # SQLite hands JSON back as text at driver level
            attributes = json.loads(attributes)
        attributes = attributes or {}
        records.append({"customer": customer_id, **{name: attributes.get(name) for name in DEMOGRAPHIC_COLUMNS}})
        stamp = _as_datetime(updated_at)
        latest = stamp if latest is None or stamp > latest else latest
    frame = pd.DataFrame.from_records(records, columns=["customer", *DEMOGRAPHIC_COLUMNS])
    return check_columns("customers", frame.astype({"customer": np.int64})), latest


def read_products_since(session: Session, since: dt.datetime | None, *, strict: bool = False
                        ) -> tuple[np.ndarray, list[Any], list[Any], dt.datetime | None]:
    """(ids, categories, brands, latest updated_at) of products updated after ``since``."""
    sql, params = _since(session, "SELECT id, category, brand, updated_at FROM products", since, strict)
    rows = [row for chunk in _raw_rows(session, sql, params) for row in chunk]
    latest = max((_as_datetime(row[3]) for row in rows), default=None)
    return (np.asarray([row[0] for row in rows], dtype=np.int64), [row[1] for row in rows],
            [row[2] for row in rows], latest)


def _as_datetime(value: Any) -> dt.datetime:
    """A naive-UTC timestamp as the driver returns it (text on SQLite)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=None)


def campaign_signature(session: Session) -> tuple[Any, ...]:
    """Changes whenever campaigns, their audiences or redemptions change (rows added,
    removed or re-dated): a few aggregates over three small tables."""
    run = session.connection().exec_driver_sql
    with small_page_cache(session):
        return (
            tuple(run("SELECT COUNT(*), MAX(updated_at), SUM(id) FROM campaigns").one()),
            tuple(run("SELECT COUNT(*), SUM(customer_id), SUM(CAST(campaign_id AS BIGINT) * customer_id), "
                      "SUM(campaign_id) FROM campaign_exposures").one()),
            tuple(run("SELECT COUNT(*), MAX(id), SUM(customer_id) FROM redemptions").one()),
        )


def read_campaigns(session: Session) -> dict[str, pd.DataFrame]:
    """campaigns, exposures and redemptions frames as
    :func:`training_data.read_campaign_history` reads them (small tables, read whole)."""
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [row for chunk in _raw_rows(session, sql) for row in chunk]

    def column(table: list[tuple[Any, ...]], i: int, kind: Any = object) -> Any:
        values = [row[i] for row in table]
        if kind == "time":
            return _times(pd.Series(values, dtype=object))
        return np.asarray(values, dtype=np.int64) if kind is int else pd.Series(values, dtype=object)

    with small_page_cache(session):
        campaigns = rows("SELECT id, type, starts_at, ends_at FROM campaigns")
        exposures = rows("SELECT campaign_id, customer_id, cohort FROM campaign_exposures")
        redemptions = rows("SELECT campaign_id, customer_id, redeemed_at FROM redemptions")
    frames = {
        "campaigns": pd.DataFrame({"campaign": column(campaigns, 0, int), "type": column(campaigns, 1),
                                   "starts_at": column(campaigns, 2, "time"), "ends_at": column(campaigns, 3, "time")}),
        "exposures": pd.DataFrame({"campaign": column(exposures, 0, int), "customer": column(exposures, 1, int),
                                   "group": column(exposures, 2)}),
        "redemptions": pd.DataFrame({"campaign": column(redemptions, 0, int), "customer": column(redemptions, 1, int),
                                     "redeemed_at": column(redemptions, 2, "time")}),
    }
    return {kind: check_columns(kind, frame) for kind, frame in frames.items()}


def opted_out_ids(session: Session) -> np.ndarray:
    rows = session.connection().exec_driver_sql("SELECT id FROM customers WHERE opted_out").fetchall()
    return np.asarray([row[0] for row in rows], dtype=np.int64)
