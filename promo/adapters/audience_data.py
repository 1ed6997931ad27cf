"""Compact reads for the audience scorer: purchases, customers and products as numpy
arrays, and the cheap checks that tell the scorer what changed since it last looked.

Purchases are read in chunks and turned into arrays chunk by chunk, so that a cold build
of 1.5M purchases never holds them all as Python tuples at once (that is what left
~200 MB behind in every worker that scored an audience).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from promo.adapters.bulk import naive_utc, sqlite_time
from promo.adapters.training_data import SQLITE_IN_CHUNK, _epoch_ms, read_campaign_history
from promo.ml.frames import DEMOGRAPHIC_COLUMNS, check_columns

FETCH_CHUNK = 100_000
MS_PER_DAY = 86_400_000


@dataclasses.dataclass
class PurchaseRows:
    """Purchase interactions as columns (value, discount and coupon as positive amounts)."""

    id: np.ndarray
    customer: np.ndarray
    product: np.ndarray
    occurred_ms: np.ndarray
    recorded_ms: np.ndarray
    value: np.ndarray
    discount: np.ndarray
    coupon: np.ndarray

    @property
    def day(self) -> np.ndarray:
        return self.occurred_ms // MS_PER_DAY


def no_purchases() -> PurchaseRows:
    return _columns([])


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _param(session: Session, value: dt.datetime) -> Any:
    return naive_utc(value) if _is_postgres(session) else sqlite_time(value)


def _purchase_select(session: Session) -> str:
    return ("SELECT id, customer_id, product_id, "
            f"{_epoch_ms(session, 'occurred_at')}, {_epoch_ms(session, 'recorded_at')}, "
            "COALESCE(value, 0), COALESCE(discount, 0), COALESCE(coupon_discount, 0) "
            "FROM interactions WHERE type = 'purchase'")


def _columns(chunks: list[list[tuple[Any, ...]]]) -> PurchaseRows:
    parts: list[list[np.ndarray]] = [[] for _ in range(8)]
    for rows in chunks:
        for i, column in enumerate(zip(*rows)):
            parts[i].append(np.asarray(column, dtype=np.int64 if i < 5 else np.float64))
    kinds = [np.int64] * 5 + [np.float64] * 3
    arrays = [np.concatenate(p) if p else np.zeros(0, dtype=k) for p, k in zip(parts, kinds)]
    arrays[6], arrays[7] = np.abs(arrays[6]), np.abs(arrays[7])   # as read_history does
    return PurchaseRows(*arrays)


def _fetch(session: Session, sql: str, params: Any = ()) -> PurchaseRows:
    cursor = session.connection().exec_driver_sql(sql, params)
    columns: list[PurchaseRows] = []
    while True:
        rows = cursor.fetchmany(FETCH_CHUNK)
        if not rows:
            break
        columns.append(_columns([rows]))   # converted now: the tuples are freed chunk by chunk
        del rows
    if not columns:
        return _columns([])
    return PurchaseRows(*[np.concatenate([getattr(c, f.name) for c in columns])
                          for f in dataclasses.fields(PurchaseRows)])


def read_purchases(session: Session, customer_ids: Sequence[int] | None = None) -> PurchaseRows:
    """Every purchase, or those of ``customer_ids``."""
    select = _purchase_select(session)
    if customer_ids is None:
        return _fetch(session, select)
    ids = sorted({int(c) for c in customer_ids})
    if _is_postgres(session):
        return _fetch(session, select + " AND customer_id = ANY(%s)", (ids,))
    parts = [_fetch(session, select + f" AND customer_id IN ({', '.join('?' * len(chunk))})", tuple(chunk))
             for chunk in (ids[i:i + SQLITE_IN_CHUNK] for i in range(0, len(ids), SQLITE_IN_CHUNK))]
    if not parts:
        return _columns([])
    return PurchaseRows(*[np.concatenate([getattr(p, f.name) for p in parts])
                          for f in dataclasses.fields(PurchaseRows)])


def purchases_after(session: Session, after_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(id, customer, recorded ms) of the purchases with an id above ``after_id``."""
    marker = "%s" if _is_postgres(session) else "?"
    rows = session.connection().exec_driver_sql(
        f"SELECT id, customer_id, {_epoch_ms(session, 'recorded_at')} FROM interactions "
        f"WHERE id > {marker} AND type = 'purchase'", (int(after_id),)).fetchall()
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
    for customer_id, attributes, updated_at in session.connection().exec_driver_sql(sql, params):
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
    rows = session.connection().exec_driver_sql(sql, params).fetchall()
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
    return (
        tuple(run("SELECT COUNT(*), MAX(updated_at), SUM(id) FROM campaigns").one()),
        tuple(run("SELECT COUNT(*), SUM(customer_id), SUM(campaign_id * customer_id), "
                  "SUM(campaign_id) FROM campaign_exposures").one()),
        tuple(run("SELECT COUNT(*), MAX(id), SUM(customer_id) FROM redemptions").one()),
    )


def read_campaigns(session: Session) -> dict[str, pd.DataFrame]:
    """campaigns, exposures and redemptions frames (small tables: read whole)."""
    return read_campaign_history(session)


def opted_out_ids(session: Session) -> np.ndarray:
    rows = session.connection().exec_driver_sql("SELECT id FROM customers WHERE opted_out").fetchall()
    return np.asarray([row[0] for row in rows], dtype=np.int64)
