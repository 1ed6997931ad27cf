"""The response model's features for a whole audience, from compact per-customer state.

:func:`audience_features` gives the same frame as
:func:`promo.ml.response_features.promotion_features` for a promotion starting at
``starts_at`` (later than every stored purchase), but reads a :class:`PurchaseState`
instead of the history: the purchase part comes from the state, the past-campaign part
from the (small) campaign tables through the very same function, and demographics from a
per-customer matrix computed once per customer.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from promo.ml.purchase_facts import CatalogCodes, PurchaseFacts, empty_facts
from promo.ml.response_features import (DAY, RECENT_DAYS, _safe_ratio, campaign_history_features,
                                        type_columns)

CUSTOMER_TOTALS = ("purchases", "spend", "coupon_uses", "coupon_amount", "discount_amount", "gross",
                   "visit_days")
CUSTOMER_DAYS = ("first_day", "last_day", "last_coupon_day")


class PurchaseState:
    """A base :class:`PurchaseFacts` and a delta for the customers whose purchases changed
    since the base was built (their rows in the delta replace theirs in the base)."""

    def __init__(self, base: PurchaseFacts, catalog: CatalogCodes, n_categories: int, n_brands: int):
        self.base = base
        self.catalog, self.n_categories, self.n_brands = catalog, n_categories, n_brands
        self.delta = empty_facts(base.n_slots, catalog, n_categories, n_brands)
        self.dirty = np.zeros(base.n_slots, dtype=bool)

    @property
    def n_slots(self) -> int:
        return max(len(self.dirty), self.base.n_slots, self.delta.n_slots)

    def ensure_slots(self, n_slots: int) -> None:
        """Make room for customer ids below ``n_slots`` (new customers have no purchases)."""
        if n_slots > len(self.dirty):
            self.dirty = np.concatenate([self.dirty, np.zeros(n_slots - len(self.dirty), dtype=bool)])

    def replace(self, delta: PurchaseFacts, dirty: np.ndarray) -> None:
        """Make ``delta`` hold the whole purchase history of the customers in ``dirty``."""
        self.delta = delta
        mask = np.zeros(max(delta.n_slots, self.n_slots), dtype=bool)
        mask[dirty] = True
        self.dirty = mask

    def set_catalog(self, catalog: CatalogCodes, n_categories: int, n_brands: int) -> None:
        self.catalog, self.n_categories, self.n_brands = catalog, n_categories, n_brands
        for facts in (self.base, self.delta):
            facts.set_catalog(catalog, n_categories, n_brands)

    def _merge(self, from_base: np.ndarray, from_delta: np.ndarray, fill: float) -> np.ndarray:
        size = self.n_slots
        dirty = np.zeros(size, dtype=bool)
        dirty[:len(self.dirty)] = self.dirty
        return np.where(dirty, _fit(from_delta, size, fill), _fit(from_base, size, fill))

    def totals(self, name: str) -> np.ndarray:
        fill = np.nan if name in CUSTOMER_DAYS else 0.0
        return self._merge(getattr(self.base, name), getattr(self.delta, name), fill)

    def promoted(self, promoted: np.ndarray) -> dict[str, np.ndarray]:
        base, delta = self.base.promoted(promoted), self.delta.promoted(promoted)
        return {name: self._merge(base[name], delta[name], 0.0) for name in base}

    def by_code(self, kind: str, measure: str, selected: np.ndarray) -> np.ndarray:
        return self._merge(self.base.by_code(kind, measure, selected),
                           self.delta.by_code(kind, measure, selected), 0.0)

    def recent(self, first_day: int) -> tuple[np.ndarray, np.ndarray]:
        (bv, bc), (dv, dc) = self.base.recent(first_day), self.delta.recent(first_day)
        return self._merge(bv, dv, 0.0), self._merge(bc, dc, 0.0)

    def buyers(self) -> np.ndarray:
        """Ids of the customers with at least one purchase."""
        return np.flatnonzero(self.totals("purchases") > 0)


def _fit(values: np.ndarray, size: int, fill: float) -> np.ndarray:
    if len(values) >= size:
        return values[:size]
    return np.concatenate([values, np.full(size - len(values), fill, dtype=float)])


def day_number(moment: pd.Timestamp) -> int:
    return int((np.datetime64(moment, "ns") - np.datetime64("1970-01-01", "ns")) // DAY)


def purchase_columns(state: PurchaseState, ids: np.ndarray, *, promoted_products: Iterable[int],
                     promoted_categories: np.ndarray, promoted_brands: np.ndarray,
                     starts_at: pd.Timestamp) -> dict[str, np.ndarray]:
    """The columns of :func:`promo.ml.response_features.purchase_features`, for ``ids``.

    ``promoted_categories`` and ``promoted_brands`` are the codes (in the state's catalog)
    of the promoted products' categories and brands.
    """
    promoted = np.unique(np.asarray(list(promoted_products), dtype=np.int64))
    start_day = float(day_number(starts_at))
    picked = {name: values[ids] for name, values in state.promoted(promoted).items()}
    total = {name: state.totals(name)[ids] for name in CUSTOMER_TOTALS + CUSTOMER_DAYS}
    recent_visits, recent_coupons = state.recent(int(start_day) - RECENT_DAYS)
    features = {
        **{name: picked[name] for name in ("promoted_purchases", "promoted_spend", "promoted_days",
                                           "promoted_products_bought", "promoted_coupon_uses")},
        "promoted_spend_share": _safe_ratio(picked["promoted_spend"], total["spend"]),
        "category_purchases": state.by_code("category", "count", promoted_categories)[ids],
        "category_spend": state.by_code("category", "value", promoted_categories)[ids],
        "category_coupon_uses": state.by_code("category", "uses", promoted_categories)[ids],
        "brand_purchases": state.by_code("brand", "count", promoted_brands)[ids],
        "brand_coupon_uses": state.by_code("brand", "uses", promoted_brands)[ids],
        "recent_coupon_uses": recent_coupons[ids],
        "recent_visit_days": recent_visits[ids],
        "total_spend": total["spend"],
        "purchases": total["purchases"],
        "visit_days": total["visit_days"],
        "recency_days": start_day - total["last_day"],
        "tenure_days": start_day - total["first_day"],
        "coupon_uses": total["coupon_uses"],
        "coupon_recency_days": start_day - total["last_coupon_day"],
        "coupon_share": _safe_ratio(total["coupon_amount"], total["gross"]),
        "discount_share": _safe_ratio(total["discount_amount"], total["gross"]),
    }
    weeks = np.maximum(np.nan_to_num(features["tenure_days"], nan=0.0) + 1, 7.0) / 7.0
    for name in ("promoted_purchases", "total_spend", "visit_days", "coupon_uses"):
        features[f"{name}_per_week"] = features[name] / weeks
    return features


def audience_features(state: PurchaseState, ids: Sequence[int] | np.ndarray, *, demographics: np.ndarray,
                      demographic_names: Sequence[str], promoted_products: Iterable[int],
                      promoted_categories: np.ndarray, promoted_brands: np.ndarray,
                      starts_at: pd.Timestamp, campaign_type: str | None, campaign_types: Iterable[str],
                      redemptions: pd.DataFrame | None, exposures: pd.DataFrame | None,
                      campaigns: pd.DataFrame | None) -> pd.DataFrame:
    """:func:`promotion_features` for customers ``ids`` (within the state's slots), from
    the state. ``demographics`` is the slots x ``demographic_names`` matrix of
    :func:`demographic_features` rows (NaN for unknown customers)."""
    ids = np.asarray(ids, dtype=np.int64)
    index = pd.Index(ids, name="customer")
    promoted = np.asarray(list(promoted_products), dtype=np.int64)
    purchases = pd.DataFrame(purchase_columns(state, ids, promoted_products=promoted,
                                              promoted_categories=promoted_categories,
                                              promoted_brands=promoted_brands, starts_at=starts_at), index=index)
    history = campaign_history_features(index, starts_at=starts_at, redemptions=redemptions, exposures=exposures,
                                        campaigns=campaigns, campaign_type=campaign_type)
    people = pd.DataFrame(_fit_rows(demographics, ids), index=index, columns=list(demographic_names))
    promotion = {"promoted_products": float(len(np.unique(promoted)))}
    promotion.update(type_columns(campaign_type, list(campaign_types)))
    return pd.concat([purchases, history, people, pd.DataFrame(promotion, index=index)], axis=1).astype(float)


def _fit_rows(matrix: np.ndarray, ids: np.ndarray) -> np.ndarray:
    out = np.full((len(ids), matrix.shape[1]), np.nan)
    inside = ids < matrix.shape[0]
    out[inside] = matrix[ids[inside]]
    return out
