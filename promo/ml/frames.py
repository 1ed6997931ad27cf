"""The tables the models learn from, as pandas DataFrames with integer ids.

Ids are the database's integer surrogate keys (``customers.id``, ``products.id``,
``locations.id``); the services translate them to and from the public ids (customer
external id, sku, location code). Datetimes are ``datetime64[ns]``, naive, in UTC.

history (one row per interaction)
    customer: int64, product: int64, location: int64 (-1 when none),
    type: str ("purchase", "cart" or "view"), quantity: int64, value: float64 (money paid,
    0 when unknown), discount: float64 (retail discount, >= 0), coupon_discount: float64
    (>= 0), occurred_at: datetime64[ns]
products
    product: int64, sku: str, category: str or None, brand: str or None
customers
    customer: int64, and the demographic columns of DEMOGRAPHIC_COLUMNS as str or None
campaigns
    campaign: int64, type: str or None, starts_at: datetime64[ns], ends_at: datetime64[ns]
campaign_products
    campaign: int64, product: int64 (the products a campaign promoted)
exposures
    campaign: int64, customer: int64, group: str ("targeted" or "holdout")
redemptions
    campaign: int64, customer: int64, redeemed_at: datetime64[ns]
"""
from __future__ import annotations

import pandas as pd

DEMOGRAPHIC_COLUMNS = ("age", "income", "home_ownership", "marital_status", "household_size",
                       "household_comp", "kids_count")

COLUMNS = {
    "history": ("customer", "product", "location", "type", "quantity", "value", "discount",
                "coupon_discount", "occurred_at"),
    "products": ("product", "sku", "category", "brand"),
    "customers": ("customer",) + DEMOGRAPHIC_COLUMNS,
    "campaigns": ("campaign", "type", "starts_at", "ends_at"),
    "campaign_products": ("campaign", "product"),
    "exposures": ("campaign", "customer", "group"),
    "redemptions": ("campaign", "customer", "redeemed_at"),
}


def check_columns(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` if it has the columns of ``kind``; raise ValueError naming those missing."""
    missing = [column for column in COLUMNS[kind] if column not in frame.columns]
    if missing:
        raise ValueError(f"{kind} frame lacks columns {missing}")
    return frame
