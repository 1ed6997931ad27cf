"""The history the models learn from, read from the database as the frames of
:mod:`promo.ml.frames`.

Read with plain SQL at driver speed (1.5M interactions in a couple of seconds);
timestamps are stored naive UTC on both databases (text on SQLite) and come back as
naive UTC ``datetime64[ns]``.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from promo.adapters.bulk import naive_utc, sqlite_time
from promo.ml.frames import DEMOGRAPHIC_COLUMNS, check_columns

# Bound parameters per statement on SQLite (its limit is 32,766 on current versions).
SQLITE_IN_CHUNK = 5000


def _frame(session: Session, sql: str, columns: list[str], params: tuple[Any, ...] = ()) -> pd.DataFrame:
    cursor = session.connection().exec_driver_sql(sql, params)
    return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


def _times(values: pd.Series) -> pd.Series:
    if values.empty:
        return pd.Series(values, dtype="datetime64[ns]")
    if values.dtype == object and isinstance(values.iloc[0], str):
        return pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")
    return pd.to_datetime(values).astype("datetime64[ns]")


def _param(session: Session, value: dt.datetime) -> Any:
    """A UTC datetime as the column stores it."""
    return sqlite_time(value) if session.get_bind().dialect.name == "sqlite" else naive_utc(value)


def _epoch_ms(session: Session, column: str) -> str:
    """SQL for a naive-UTC timestamp column as integer milliseconds since the epoch
    (much cheaper than parsing 1.5M timestamps in Python)."""
    if session.get_bind().dialect.name == "sqlite":
        return f"CAST(ROUND((julianday({column}) - 2440587.5) * 86400000) AS INTEGER)"
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000 AS BIGINT)"


def _history_rows(session: Session, until: dt.datetime | None,
                  customer_ids: Sequence[int] | None) -> list[tuple[Any, ...]]:
    postgres = session.get_bind().dialect.name == "postgresql"
    marker = "%s" if postgres else "?"
    select = ("SELECT customer_id, product_id, COALESCE(location_id, -1), type, quantity, COALESCE(value, 0), "
              f"COALESCE(discount, 0), COALESCE(coupon_discount, 0), {_epoch_ms(session, 'occurred_at')} "
              "FROM interactions WHERE 1 = 1")
    params: tuple[Any, ...] = ()
    if until is not None:
        select += f" AND occurred_at < {marker}"
        params = (_param(session, until),)
    run = session.connection().exec_driver_sql
    if customer_ids is None:
        return run(select, params).fetchall()
    ids = sorted(set(int(c) for c in customer_ids))
    if postgres:
        return run(select + " AND customer_id = ANY(%s)", params + (ids,)).fetchall()
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), SQLITE_IN_CHUNK):
        chunk = ids[start:start + SQLITE_IN_CHUNK]
        rows += run(select + f" AND customer_id IN ({', '.join('?' * len(chunk))})", params + tuple(chunk)).fetchall()
    return rows


def read_history(session: Session, until: dt.datetime | None = None,
                 customer_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Every interaction that occurred before ``until`` (all when None), of the given
    customers (all when None), oldest first."""
    rows = _history_rows(session, until, customer_ids)
    columns = list(zip(*rows)) if rows else [()] * 9
    frame = pd.DataFrame({
        "customer": np.array(columns[0], dtype=np.int64),
        "product": np.array(columns[1], dtype=np.int64),
        "location": np.array(columns[2], dtype=np.int64),
        "type": pd.Categorical(columns[3]),
        "quantity": np.array(columns[4], dtype=np.int64),
        "value": np.array(columns[5], dtype=np.float64),
        "discount": np.abs(np.array(columns[6], dtype=np.float64)),
        "coupon_discount": np.abs(np.array(columns[7], dtype=np.float64)),
        "occurred_at": np.array(columns[8], dtype=np.int64).astype("datetime64[ms]").astype("datetime64[ns]"),
    })
    return check_columns("history", frame.sort_values("occurred_at", kind="stable").reset_index(drop=True))


def read_products(session: Session) -> pd.DataFrame:
    frame = _frame(session, "SELECT id, sku, category, brand FROM products", ["product", "sku", "category", "brand"])
    return check_columns("products", frame.astype({"product": np.int64}))


def read_customers(session: Session) -> pd.DataFrame:
    rows = session.connection().exec_driver_sql("SELECT id, attributes FROM customers").fetchall()
    records = []
    for customer_id, attributes in rows:
        if isinstance(attributes, str):  # SQLite hands JSON back as text at driver level
            attributes = json.loads(attributes)
        attributes = attributes or {}
        records.append({"customer": customer_id, **{name: attributes.get(name) for name in DEMOGRAPHIC_COLUMNS}})
    frame = pd.DataFrame.from_records(records, columns=["customer", *DEMOGRAPHIC_COLUMNS])
    return check_columns("customers", frame.astype({"customer": np.int64}))


def read_campaign_history(session: Session) -> dict[str, pd.DataFrame]:
    """campaigns, campaign_products, exposures and redemptions frames."""
    campaigns = _frame(session, "SELECT id, type, starts_at, ends_at FROM campaigns",
                       ["campaign", "type", "starts_at", "ends_at"])
    for column in ("starts_at", "ends_at"):
        campaigns[column] = _times(campaigns[column])
    products = _frame(session, "SELECT campaign_id, product_id FROM campaign_products", ["campaign", "product"])
    exposures = _frame(session, "SELECT campaign_id, customer_id, cohort FROM campaign_exposures",
                       ["campaign", "customer", "group"])
    redemptions = _frame(session, "SELECT campaign_id, customer_id, redeemed_at FROM redemptions",
                         ["campaign", "customer", "redeemed_at"])
    redemptions["redeemed_at"] = _times(redemptions["redeemed_at"])
    frames = {
        "campaigns": campaigns.astype({"campaign": np.int64}),
        "campaign_products": products.astype({"campaign": np.int64, "product": np.int64}),
        "exposures": exposures.astype({"campaign": np.int64, "customer": np.int64}),
        "redemptions": redemptions.astype({"campaign": np.int64, "customer": np.int64}),
    }
    return {kind: check_columns(kind, frame) for kind, frame in frames.items()}
