"""Purchase history kept compact for scoring audiences fast.

:class:`PurchaseFacts` holds purchases summed per (customer, day, product), sorted by
product, plus per-customer totals and per-(customer, day) visits. From it, the purchase
features of :func:`promo.ml.response_features.purchase_features` for any promotion are a
few gathers and ``bincount``\\ s: the promoted products' slices of the product-sorted
facts, and one sparse product per category or brand vector. Everything is indexed by
customer id ("slots": arrays of length ``n_slots``, customer id ``i`` at position ``i``).

What depends on the promotion's start is not stored: days are kept as day numbers and
the recency, tenure, per-week and "recent weeks" values are computed per call for the
day the promotion starts, so the clock moving needs no rebuild.

:class:`PurchaseState` is a base :class:`PurchaseFacts` plus a small one rebuilt from
scratch for the customers with purchases newer than the base ("dirty" customers), whose
rows replace the base's; it folds the delta into a new base when it grows.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

DAY_BITS = 20            # day numbers since 1970 stay below 2**20 until the year 4840
PRODUCT_BITS = 32


def _sums(group: np.ndarray, weights: np.ndarray | None, size: int) -> np.ndarray:
    return np.bincount(group, weights=weights, minlength=size).astype(float)


def _fit(values: np.ndarray, size: int, fill: float) -> np.ndarray:
    """``values`` cut or padded (with ``fill``) to ``size`` slots."""
    if len(values) >= size:
        return values[:size]
    return np.concatenate([values, np.full(size - len(values), fill, dtype=values.dtype)])


def _narrow(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in the smallest unsigned type that holds them."""
    top = int(values.max()) if len(values) else 0
    for kind in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(kind).max:
            return values.astype(kind)
    return values.astype(np.int64)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, e)`` for each pair, without a Python loop."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total)


def _distinct_counts(owner: np.ndarray, key: np.ndarray, bits: int, size: int) -> np.ndarray:
    """How many distinct ``key`` values each owner has.

    A boolean sparse matrix merges repeated (owner, key) pairs by counting sort, about ten
    times faster than np.unique over the packed pairs (which a check of a 1,000-product
    campaign on the demo spent 70 ms in); ``bits`` bounds the keys."""
    if len(owner) == 0:
        return np.zeros(size)
    key = key.astype(np.int64)
    assert int(key.max()) < (1 << bits), "a key past its bit width"
    matrix = sp.csr_matrix((np.ones(len(owner), dtype=bool), (owner.astype(np.int64), key)),
                           shape=(size, int(key.max()) + 1))
    matrix.sum_duplicates()
    return np.diff(matrix.indptr).astype(float)


@dataclasses.dataclass
class CatalogCodes:
    """Category and brand of each product as integer codes indexed by product id (-1: none)."""

    category: np.ndarray
    brand: np.ndarray

    def of(self, kind: str, products: np.ndarray) -> np.ndarray:
        codes = getattr(self, kind)
        inside = products < len(codes)
        out = np.full(len(products), -1, dtype=np.int64)
        out[inside] = codes[products[inside]]
        return out


class PurchaseFacts:
    """Purchases of some customers, summed per (customer, day, product)."""

    def __init__(self, customer: np.ndarray, product: np.ndarray, day: np.ndarray, value: np.ndarray,
                 discount: np.ndarray, coupon: np.ndarray, *, n_slots: int, catalog: CatalogCodes,
                 n_categories: int, n_brands: int):
        self.n_slots = int(n_slots)
        customer = np.asarray(customer, dtype=np.int64)
        product = np.asarray(product, dtype=np.int64)
        day = np.asarray(day, dtype=np.int64)
        used_coupon = (np.asarray(coupon) > 0).astype(np.int64)
        size = self.n_slots
        # Per customer: everything that does not depend on the promoted products.
        self.purchases = _sums(customer, None, size)
        self.spend = _sums(customer, value, size)
        self.coupon_uses = _sums(customer, used_coupon, size)
        self.coupon_amount = _sums(customer, coupon, size)
        self.discount_amount = _sums(customer, discount, size)
        self.gross = _sums(customer, value + discount + coupon, size)
        self.first_day = np.full(size, np.nan)
        self.last_day = np.full(size, np.nan)
        self.last_coupon_day = np.full(size, np.nan)
        # Facts: one row per (customer, day, product), ordered by customer then day.
        order = np.lexsort((product, day, customer))
        key_c, key_d, key_p = customer[order], day[order], product[order]
        new = np.ones(len(order), dtype=bool)
        if len(order):
            new[1:] = (np.diff(key_c) != 0) | (np.diff(key_d) != 0) | (np.diff(key_p) != 0)
        group = np.cumsum(new) - 1
        n_facts = int(group[-1]) + 1 if len(group) else 0
        f_cust, f_day, f_prod = key_c[new], key_d[new], key_p[new]
        # Sorted by customer then day: a customer's first and last rows hold their first
        # and last days, and likewise among the rows with a coupon.
        for where, target, pick_last in ((slice(None), self.first_day, False), (slice(None), self.last_day, True),
                                         (used_coupon[order] > 0, self.last_coupon_day, True)):
            owners, days = key_c[where], key_d[where]
            if len(owners):
                edge = np.flatnonzero(np.diff(owners) != 0)
                at = np.append(edge, len(owners) - 1) if pick_last else np.insert(edge + 1, 0, 0)
                target[owners[at]] = days[at]
        f_n = np.bincount(group, minlength=n_facts).astype(np.int32)
        f_value = np.bincount(group, weights=np.asarray(value, dtype=float)[order], minlength=n_facts)
        f_uses = np.bincount(group, weights=used_coupon[order], minlength=n_facts).astype(np.int32)
        # Visits: one row per (customer, day), for the "recent weeks" windows.
        visit = np.ones(n_facts, dtype=bool)
        if n_facts:
            visit[1:] = (np.diff(f_cust) != 0) | (np.diff(f_day) != 0)
        visit_group = np.cumsum(visit) - 1
        self.visit_customer = f_cust[visit].astype(np.int32)
        self.visit_day = f_day[visit].astype(np.int32)
        self.visit_coupon_uses = np.bincount(visit_group, weights=f_uses, minlength=int(visit.sum()))
        self.visit_days = _sums(self.visit_customer, None, size)
        # Product-major copy of the facts: a promotion reads only its products' slices. The
        # products are not stored per fact (each slice is one product), and the other
        # columns take the smallest unsigned type their values fit: 14 bytes a fact.
        by_product = np.argsort(f_prod, kind="stable")
        self.day0 = int(f_day.min()) if n_facts else 0
        self.customer = _narrow(f_cust[by_product])
        self.day = _narrow(f_day[by_product] - self.day0)
        self.count = _narrow(f_n[by_product])
        self.value = f_value[by_product]
        self.uses = _narrow(f_uses[by_product])
        self.products, self.starts = np.unique(f_prod[by_product], return_index=True)
        self.ends = np.append(self.starts[1:], n_facts).astype(np.int64)
        self.latest_day = int(day.max()) if len(day) else None
        self.set_catalog(catalog, n_categories, n_brands)

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray)) + sum(
            m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in self._matrices.values())

    def set_catalog(self, catalog: CatalogCodes, n_categories: int, n_brands: int) -> None:
        """(Re)build the customer x category and customer x brand sums for ``catalog``."""
        self._matrices: dict[str, sp.csr_matrix] = {}
        product = np.repeat(self.products, self.ends - self.starts)
        for kind, width, measures in (("category", n_categories, ("count", "value", "uses")),
                                      ("brand", n_brands, ("count", "uses"))):
            codes = catalog.of(kind, product)
            known = codes >= 0
            for measure in measures:
                data = getattr(self, measure)[known].astype(float)
                self._matrices[f"{kind}_{measure}"] = sp.csr_matrix(
                    (data, (self.customer[known], codes[known])), shape=(self.n_slots, max(width, 1)))

    def promoted(self, promoted: np.ndarray) -> dict[str, np.ndarray]:
        """Per-slot totals over the promoted products (sorted unique product ids)."""
        at = np.searchsorted(self.products, promoted)
        if len(self.products):
            at = np.minimum(at, len(self.products) - 1)
            at = at[self.products[at] == promoted]
        else:
            at = at[:0]
        rows = _ranges(self.starts[at], self.ends[at])
        product = np.repeat(self.products[at], self.ends[at] - self.starts[at])
        customer, size = self.customer[rows], self.n_slots
        return {
            "promoted_purchases": _sums(customer, self.count[rows], size),
            "promoted_spend": _sums(customer, self.value[rows], size),
            "promoted_days": _distinct_counts(customer, self.day[rows], DAY_BITS, size),
            "promoted_products_bought": _distinct_counts(customer, product, PRODUCT_BITS, size),
            "promoted_coupon_uses": _sums(customer, self.uses[rows], size),
        }

    def by_code(self, kind: str, measure: str, selected: np.ndarray) -> np.ndarray:
        """Per-slot sum of ``measure`` over the categories (or brands) marked in ``selected``."""
        matrix = self._matrices[f"{kind}_{measure}"]
        chosen = np.zeros(matrix.shape[1])
        chosen[selected[selected < matrix.shape[1]]] = 1.0
        return np.asarray(matrix @ chosen, dtype=float)

    def recent(self, first_day: int) -> tuple[np.ndarray, np.ndarray]:
        """(visit days, coupon uses) per slot on or after ``first_day``."""
        inside = self.visit_day >= first_day
        customer = self.visit_customer[inside]
        return (_sums(customer, None, self.n_slots),
                _sums(customer, self.visit_coupon_uses[inside], self.n_slots))


def empty_facts(n_slots: int, catalog: CatalogCodes, n_categories: int, n_brands: int) -> PurchaseFacts:
    none_i, none_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    return PurchaseFacts(none_i, none_i, none_i, none_f, none_f, none_f, n_slots=n_slots, catalog=catalog,
                         n_categories=n_categories, n_brands=n_brands)


class CatalogVocabulary:
    """Products' categories and brands as codes, kept current as products change."""

    def __init__(self) -> None:
        self.names: dict[str, dict[str, int]] = {"category": {}, "brand": {}}
        self.codes = CatalogCodes(np.full(0, -1, dtype=np.int64), np.full(0, -1, dtype=np.int64))

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.names["category"]), len(self.names["brand"])

    def update(self, product_ids: np.ndarray, categories: list, brands: list) -> np.ndarray:
        """Record these products' category and brand; returns the ids whose codes changed."""
        product_ids = np.asarray(product_ids, dtype=np.int64)
        if len(product_ids) == 0:
            return product_ids
        size = int(product_ids.max()) + 1
        changed = np.zeros(len(product_ids), dtype=bool)
        for kind, values in (("category", categories), ("brand", brands)):
            vocabulary = self.names[kind]
            new = np.asarray([-1 if v is None or v != v else vocabulary.setdefault(str(v), len(vocabulary)) for v in values],
                             dtype=np.int64)
            codes = getattr(self.codes, kind)
            if size > len(codes):
                codes = np.concatenate([codes, np.full(size - len(codes), -1, dtype=np.int64)])
            changed |= codes[product_ids] != new
            codes[product_ids] = new
            setattr(self.codes, kind, codes)
        return product_ids[changed]

    def selected(self, kind: str, product_ids: np.ndarray) -> np.ndarray:
        """The distinct known codes of these products' categories (or brands)."""
        codes = self.codes.of(kind, np.asarray(product_ids, dtype=np.int64))
        return np.unique(codes[codes >= 0])
