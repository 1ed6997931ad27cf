"""What the response model knows about a customer when a promotion starts.

Every feature is cut strictly at the promotion's start: history rows, redemptions and
exposures at or after ``starts_at`` are never read, so a model trained on past campaigns
sees exactly what it would have seen when the campaign was launched.

:func:`promotion_features` builds the features of one promotion for a list of customers;
:func:`campaign_features` does it for a stored campaign; :func:`training_table` stacks
them over past campaigns, one row per exposure, with the redemption label and the
targeted/holdout flag. The frames follow :mod:`promo.ml.frames`.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from promo.ml.frames import check_columns

DAY = np.timedelta64(1, "D")
TYPE_PREFIX = "campaign_type="
# "Recent" behaviour: the weeks just before the promotion.
RECENT_DAYS = 56


# --- demographics -------------------------------------------------------------------------

def band_value(text: object) -> float:
    """The number a demographic band stands for: the middle of "45-54" or "50-74K", the
    bound of "65+" or "250K+", half of "Under 15K"; NaN when unknown or not a band.

    The units are those of the text ("50-74K" gives 62.0, in thousands).
    """
    if text is None or pd.isna(text):
        return np.nan
    numbers = [float(number) for number in re.findall(r"\d+(?:\.\d+)?", str(text))]
    if not numbers:
        return np.nan
    if str(text).strip().lower().startswith("under"):
        return numbers[0] / 2
    return float(np.mean(numbers[:2]))


def _flag(column: pd.Series, yes: Sequence[str], no: Sequence[str]) -> pd.Series:
    """1.0 for the ``yes`` words, 0.0 for the ``no`` words, NaN otherwise (case-insensitive)."""
    lowered = column.astype("string").str.strip().str.lower()
    is_yes = lowered.isin([word.lower() for word in yes]).to_numpy(dtype=bool)
    is_no = lowered.isin([word.lower() for word in no]).to_numpy(dtype=bool)
    values = np.where(is_yes, 1.0, np.where(is_no, 0.0, np.nan))
    return pd.Series(values, index=column.index, dtype=float)


def demographic_features(customers: pd.DataFrame, customer_ids: pd.Index) -> pd.DataFrame:
    """Demographics as numbers, one row per id of ``customer_ids``; unknown is NaN.

    Bands become the number they stand for (age and income in the units of their text),
    household size and kids count their number ("5+" is 5), the household composition its
    number of adults, home ownership and marital status 0/1 flags ("Probable Homeowner"
    counts as a homeowner: it is the retailer's best guess, like the rest).
    """
    check_columns("customers", customers)
    rows = customers.drop_duplicates("customer").set_index("customer").reindex(customer_ids)
    adults = rows["household_comp"].astype("string").str.extract(r"(\d+)\s*adult", flags=re.IGNORECASE)[0]
    return pd.DataFrame({
        "age": rows["age"].map(band_value).astype(float),
        "income": rows["income"].map(band_value).astype(float),
        "household_size": rows["household_size"].map(band_value).astype(float),
        "kids_count": rows["kids_count"].map(band_value).astype(float),
        "adults": pd.to_numeric(adults, errors="coerce").astype(float),
        "homeowner": _flag(rows["home_ownership"], ["Homeowner", "Probable Homeowner", "Owner"],
                           ["Renter", "Probable Renter"]),
        "married": _flag(rows["marital_status"], ["Married"], ["Unmarried", "Single", "Divorced", "Widowed"]),
    }, index=customer_ids)


# --- purchase history ----------------------------------------------------------------------

def _totals(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=size).astype(float)


def _distinct(codes: np.ndarray, keys: np.ndarray, size: int) -> np.ndarray:
    """How many distinct ``keys`` each customer code has (keys are non-negative ints)."""
    if len(codes) == 0:
        return np.zeros(size)
    pairs = pd.unique(codes.astype(np.int64) * (int(keys.max()) + 1) + keys)
    return _totals((pairs // (int(keys.max()) + 1)).astype(np.int64), size)


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (nothing to take a share of)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def purchase_features(history: pd.DataFrame, products: pd.DataFrame, customer_ids: pd.Index, *,
                      promoted_products: Iterable[int], starts_at: pd.Timestamp) -> pd.DataFrame:
    """Purchase behaviour before ``starts_at``, overall and on the promoted products and
    their categories, one row per id of ``customer_ids``.

    Only purchases count (views and cart adds say little about spend and are not in every
    feed). Days are calendar days of ``occurred_at``.
    """
    check_columns("history", history)
    size = len(customer_ids)
    codes = customer_ids.get_indexer(history["customer"])
    times = history["occurred_at"].to_numpy(dtype="datetime64[ns]")
    keep = (codes >= 0) & (times < np.datetime64(starts_at, "ns")) & (history["type"] == "purchase").to_numpy()
    past = history.loc[keep, ["product", "value", "discount", "coupon_discount"]]
    codes, times = codes[keep], times[keep]
    days = ((times - np.datetime64("1970-01-01", "ns")) // DAY).astype(np.int64)

    promoted = np.unique(np.asarray(list(promoted_products), dtype=np.int64))
    catalogue = products.drop_duplicates("product").set_index("product")
    category_of, brand_of = catalogue["category"], catalogue["brand"]
    promoted_categories = category_of.reindex(promoted).dropna().unique()
    promoted_brands = brand_of.reindex(promoted).dropna().unique()
    is_promoted = past["product"].isin(promoted).to_numpy()
    in_category = past["product"].map(category_of).isin(promoted_categories).to_numpy(dtype=bool)
    in_brand = past["product"].map(brand_of).isin(promoted_brands).to_numpy(dtype=bool)

    value = past["value"].to_numpy(dtype=float)
    discount = past["discount"].to_numpy(dtype=float)
    coupon = past["coupon_discount"].to_numpy(dtype=float)
    used_coupon = coupon > 0
    # What the basket would have cost without any discount: shares of it stay in [0, 1].
    gross = _totals(codes, size, value + discount + coupon)

    last = np.full(size, np.nan)
    first = np.full(size, np.nan)
    if len(codes):
        by_customer = pd.Series(days).groupby(codes)
        latest, earliest = by_customer.max(), by_customer.min()
        last[latest.index] = latest.to_numpy()
        first[earliest.index] = earliest.to_numpy()
    start_day = float((np.datetime64(starts_at, "ns") - np.datetime64("1970-01-01", "ns")) // DAY)

    promoted_codes = codes[is_promoted]
    total_spend = _totals(codes, size, value)
    recent = days >= (np.datetime64(starts_at, "ns") - np.datetime64("1970-01-01", "ns")) // DAY - RECENT_DAYS
    last_coupon = np.full(size, np.nan)
    if used_coupon.any():
        latest_coupon = pd.Series(days[used_coupon]).groupby(codes[used_coupon]).max()
        last_coupon[latest_coupon.index] = latest_coupon.to_numpy()
    promoted_spend = _totals(promoted_codes, size, value[is_promoted])
    features = {
        "promoted_purchases": _totals(promoted_codes, size),
        "promoted_spend": promoted_spend,
        "promoted_days": _distinct(promoted_codes, days[is_promoted], size),
        "promoted_products_bought": _distinct(
            promoted_codes, np.searchsorted(promoted, past["product"].to_numpy()[is_promoted]), size),
        "promoted_coupon_uses": _totals(promoted_codes, size, used_coupon[is_promoted].astype(float)),
        "promoted_spend_share": _safe_ratio(promoted_spend, total_spend),
        "category_purchases": _totals(codes[in_category], size),
        "category_spend": _totals(codes[in_category], size, value[in_category]),
        "category_coupon_uses": _totals(codes[in_category], size, used_coupon[in_category].astype(float)),
        "brand_purchases": _totals(codes[in_brand], size),
        "brand_coupon_uses": _totals(codes[in_brand], size, used_coupon[in_brand].astype(float)),
        "recent_coupon_uses": _totals(codes[recent], size, used_coupon[recent].astype(float)),
        "recent_visit_days": _distinct(codes[recent], days[recent], size),
        "total_spend": total_spend,
        "purchases": _totals(codes, size),
        "visit_days": _distinct(codes, days, size),
        "recency_days": start_day - last,
        "tenure_days": start_day - first,
        "coupon_uses": _totals(codes, size, used_coupon.astype(float)),
        "coupon_recency_days": start_day - last_coupon,
        "coupon_share": _safe_ratio(_totals(codes, size, coupon), gross),
        "discount_share": _safe_ratio(_totals(codes, size, discount), gross),
    }
    # Per week of the customer's own tenure (at least a week): campaigns start at different
    # points of the record, and a total over 5 weeks is not a total over 40.
    weeks = np.maximum(np.nan_to_num(features["tenure_days"], nan=0.0) + 1, 7.0) / 7.0
    for name in ("promoted_purchases", "total_spend", "visit_days", "coupon_uses"):
        features[f"{name}_per_week"] = features[name] / weeks
    return pd.DataFrame(features, index=customer_ids)


# --- past campaigns ------------------------------------------------------------------------

def campaign_history_features(customer_ids: pd.Index, *, starts_at: pd.Timestamp,
                              redemptions: pd.DataFrame | None = None, exposures: pd.DataFrame | None = None,
                              campaigns: pd.DataFrame | None = None,
                              campaign_type: str | None = None) -> pd.DataFrame:
    """Past campaign exposures and redemptions before ``starts_at``, one row per customer.

    An exposure counts when its campaign started before ``starts_at``; its start is the
    ``starts_at`` column of ``exposures`` when present, else looked up in ``campaigns``.
    A redemption counts when ``redeemed_at`` is before ``starts_at``. Holdout exposures
    count as exposures: the customer was picked for a campaign either way. With
    ``campaigns`` and ``campaign_type``, redemptions in campaigns of the same type are
    counted apart (a customer who redeems type A mailers may ignore type B ones).
    """
    size = len(customer_ids)
    start = np.datetime64(starts_at, "ns")
    features = {"past_exposures": np.zeros(size), "past_redeemed_campaigns": np.zeros(size),
                "past_redemptions": np.zeros(size), "same_type_redemptions": np.zeros(size),
                "redemption_recency_days": np.full(size, np.nan)}
    if exposures is not None:
        check_columns("exposures", exposures)
        if "starts_at" not in exposures.columns:
            if campaigns is None:
                raise ValueError("exposures need a starts_at column or a campaigns frame to date them")
            check_columns("campaigns", campaigns)
            exposures = exposures.merge(campaigns[["campaign", "starts_at"]], on="campaign", how="left")
        before = exposures[exposures["starts_at"].to_numpy(dtype="datetime64[ns]") < start]
        codes = customer_ids.get_indexer(before["customer"])
        features["past_exposures"] = _totals(codes[codes >= 0], size)
    if redemptions is not None:
        check_columns("redemptions", redemptions)
        before = redemptions[redemptions["redeemed_at"].to_numpy(dtype="datetime64[ns]") < start]
        codes = customer_ids.get_indexer(before["customer"])
        seen = codes >= 0
        features["past_redemptions"] = _totals(codes[seen], size)
        campaign_ids = before["campaign"].to_numpy(dtype=np.int64)[seen]
        if seen.any():
            features["past_redeemed_campaigns"] = _distinct(codes[seen], campaign_ids - campaign_ids.min(), size)
            latest = pd.Series(before["redeemed_at"].to_numpy(dtype="datetime64[ns]")[seen]).groupby(codes[seen]).max()
            features["redemption_recency_days"][latest.index] = (start - latest.to_numpy()) / DAY
            if campaigns is not None and campaign_type is not None:
                types = campaigns.set_index("campaign")["type"]
                same = (types.reindex(campaign_ids).to_numpy() == campaign_type)
                features["same_type_redemptions"] = _totals(codes[seen][same], size)
    features["past_redemption_rate"] = _safe_ratio(features["past_redeemed_campaigns"], features["past_exposures"])
    return pd.DataFrame(features, index=customer_ids)


# --- one promotion -------------------------------------------------------------------------

def type_columns(campaign_type: str | None, campaign_types: Iterable[str]) -> dict[str, float]:
    """One-hot columns ``campaign_type=<type>`` over ``campaign_types``."""
    return {f"{TYPE_PREFIX}{name}": float(name == campaign_type) for name in campaign_types}


def promotion_features(history: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame, *,
                       promoted_products: Iterable[int], starts_at: pd.Timestamp | str,
                       customer_ids: Iterable[int], campaign_type: str | None = None,
                       campaign_types: Iterable[str] | None = None,
                       redemptions: pd.DataFrame | None = None, exposures: pd.DataFrame | None = None,
                       campaigns: pd.DataFrame | None = None) -> pd.DataFrame:
    """The features of a promotion of ``promoted_products`` starting at ``starts_at``, for
    each customer of ``customer_ids``.

    Parameters
    ----------
    history, products, customers : pandas.DataFrame
        Frames of :mod:`promo.ml.frames`. Only history rows with ``occurred_at <
        starts_at`` are read.
    promoted_products : iterable of int
        The product ids the promotion discounts.
    starts_at : timestamp
        The promotion's start; nothing at or after it is used.
    customer_ids : iterable of int
        The customers to describe, without duplicates; the rows come in this order.
    campaign_type : str, optional
        The promotion's type, one-hot encoded over ``campaign_types``.
    campaign_types : iterable of str, optional
        The vocabulary of the one-hot columns (default: ``[campaign_type]`` when given).
        Pass the same vocabulary as at training, e.g. ``sorted(campaigns["type"].dropna().unique())``.
    redemptions, exposures : pandas.DataFrame, optional
        Past campaign outcomes; only redemptions with ``redeemed_at < starts_at`` and
        exposures to campaigns that started before ``starts_at`` count.
    campaigns : pandas.DataFrame, optional
        Dates the exposures when they lack a ``starts_at`` column of their campaign's start.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id, float columns only; NaN where a value is unknown (a share
        of nothing, the recency of a customer who never bought, unknown demographics).
    """
    ids = pd.Index(np.asarray(list(customer_ids), dtype=np.int64), name="customer")
    if ids.has_duplicates:
        raise ValueError("customer_ids has duplicates")
    starts_at = pd.Timestamp(starts_at)
    promoted = np.asarray(list(promoted_products), dtype=np.int64)
    parts = [
        purchase_features(history, products, ids, promoted_products=promoted, starts_at=starts_at),
        campaign_history_features(ids, starts_at=starts_at, redemptions=redemptions, exposures=exposures,
                                  campaigns=campaigns, campaign_type=campaign_type),
        demographic_features(customers, ids),
    ]
    promotion = {"promoted_products": float(len(np.unique(promoted)))}
    vocabulary = list(campaign_types) if campaign_types is not None else [campaign_type] if campaign_type else []
    promotion.update(type_columns(campaign_type, vocabulary))
    parts.append(pd.DataFrame(promotion, index=ids))
    return pd.concat(parts, axis=1).astype(float)


def campaign_features(history: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame,
                      campaigns: pd.DataFrame, campaign_products: pd.DataFrame, *, campaign_id: int,
                      customer_ids: Iterable[int], exposures: pd.DataFrame | None = None,
                      redemptions: pd.DataFrame | None = None) -> pd.DataFrame:
    """:func:`promotion_features` of the stored campaign ``campaign_id``, with its products,
    start and type, the types of ``campaigns`` as the one-hot vocabulary, and exposures dated
    by ``campaigns``. Use it to score an audience for a campaign with a model trained by
    :func:`training_table` on the same ``campaigns``.
    """
    check_columns("campaigns", campaigns)
    check_columns("campaign_products", campaign_products)
    row = campaigns.loc[campaigns["campaign"] == campaign_id]
    if row.empty:
        raise ValueError(f"no campaign {campaign_id}")
    campaign_type = row["type"].iloc[0]
    return promotion_features(
        history, products, customers,
        promoted_products=campaign_products.loc[campaign_products["campaign"] == campaign_id, "product"],
        starts_at=row["starts_at"].iloc[0], customer_ids=customer_ids,
        campaign_type=None if pd.isna(campaign_type) else str(campaign_type),
        campaign_types=campaign_type_vocabulary(campaigns),
        redemptions=redemptions, exposures=exposures, campaigns=campaigns)


def campaign_type_vocabulary(campaigns: pd.DataFrame) -> list[str]:
    """The campaign types, sorted: the one-hot vocabulary of :func:`campaign_features`."""
    return sorted(str(name) for name in campaigns["type"].dropna().unique())


# --- the training table --------------------------------------------------------------------

def redemption_labels(campaigns: pd.DataFrame, redemptions: pd.DataFrame,
                      until: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """The (campaign, customer) pairs that count as redeemed.

    A redemption counts only inside its campaign's window (``starts_at <= redeemed_at <=
    ends_at``) and, when ``until`` is given, strictly before it: a label must not know
    what happened after the training cut-off, nor credit a campaign with a coupon used
    outside its dates.
    """
    check_columns("campaigns", campaigns)
    check_columns("redemptions", redemptions)
    dated = redemptions.merge(campaigns[["campaign", "starts_at", "ends_at"]], on="campaign")
    keep = (dated["redeemed_at"] >= dated["starts_at"]) & (dated["redeemed_at"] <= dated["ends_at"])
    if until is not None:
        keep &= dated["redeemed_at"] < pd.Timestamp(until)
    return dated.loc[keep, ["campaign", "customer"]].drop_duplicates(ignore_index=True)


def campaigns_within(campaigns: pd.DataFrame, start: pd.Timestamp | None,
                     end: pd.Timestamp | None) -> list[int]:
    """Campaigns whose whole window lies inside [start, end]: their features and their
    outcome are both fully recorded. The others are neither learned from nor judged."""
    check_columns("campaigns", campaigns)
    if start is None or end is None:
        return []
    inside = (campaigns["starts_at"] >= pd.Timestamp(start)) & (campaigns["ends_at"] <= pd.Timestamp(end))
    return sorted(int(campaign) for campaign in campaigns.loc[inside, "campaign"])


def training_table(history: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame,
                   campaigns: pd.DataFrame, campaign_products: pd.DataFrame, exposures: pd.DataFrame,
                   redemptions: pd.DataFrame, *, campaign_ids: Iterable[int],
                   until: pd.Timestamp | str | None = None
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """One row per exposure of the campaigns ``campaign_ids``, to learn redemption from.

    Labels follow :func:`redemption_labels` (inside the window, before ``until``).

    Returns
    -------
    X : pandas.DataFrame
        The features of each exposed customer, cut at the start of the campaign
        (:func:`campaign_features`), with a plain range index.
    y : numpy.ndarray of int
        1 when the customer redeemed in that campaign, inside its window and before
        ``until``, else 0.
    treatment : numpy.ndarray of int
        1 for a targeted exposure, 0 for a holdout.
    campaign : numpy.ndarray of int
        The campaign id of each row, to group or split by.
    """
    for kind, frame in (("campaigns", campaigns), ("exposures", exposures), ("redemptions", redemptions)):
        check_columns(kind, frame)
    wanted = list(dict.fromkeys(int(campaign) for campaign in campaign_ids))
    # An exposure listed twice is still one chance to redeem.
    rows = exposures[exposures["campaign"].isin(wanted)].drop_duplicates(["campaign", "customer"])
    unknown = set(rows["group"].unique()) - {"targeted", "holdout"}
    if unknown:
        raise ValueError(f"exposure groups must be 'targeted' or 'holdout', not {sorted(map(str, unknown))}")
    # Every campaign reads the history of the same customers: select them once.
    history = history[history["customer"].isin(rows["customer"].unique())]
    redeemed = redemption_labels(campaigns, redemptions, until)
    tables, labels, treatments, groups = [], [], [], []
    for campaign in wanted:
        exposed = rows[rows["campaign"] == campaign]
        if exposed.empty:
            continue
        customer_ids = exposed["customer"].to_numpy(dtype=np.int64)
        tables.append(campaign_features(history, products, customers, campaigns, campaign_products,
                                        campaign_id=campaign, customer_ids=customer_ids, exposures=exposures,
                                        redemptions=redemptions))
        redeemers = redeemed.loc[redeemed["campaign"] == campaign, "customer"]
        labels.append(np.isin(customer_ids, redeemers.to_numpy(dtype=np.int64)).astype(np.int64))
        treatments.append((exposed["group"] == "targeted").to_numpy(dtype=np.int64))
        groups.append(np.full(len(customer_ids), campaign, dtype=np.int64))
    if not tables:
        raise ValueError("none of the campaigns has exposures")
    X = pd.concat(tables, ignore_index=True)
    return X, np.concatenate(labels), np.concatenate(treatments), np.concatenate(groups)
