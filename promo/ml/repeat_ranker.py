"""The repeat ("buy again") ranker: a linear score of how likely a customer is to re-buy
one of their products within the next week, learned from what makes people re-buy.

Features of a (customer, product) pair, all known at the reference time:

- purchase rows and distinct purchase days, all time;
- purchases decayed with half-lives of 7, 30 and 120 days (recent habits and old ones);
- days since the last purchase, the pair's repurchase cycle (its mean gap between
  purchase days, or the product's median cycle when bought once) and how due it is
  (``(since + horizon) / cycle``, with its square: due-ness peaks, it does not grow);
- the product's repurchase rate (share of its buyers who bought it again);
- the product's recent buyers everywhere and at the store being served;
- the product's share of the customer's recent purchases, and how many products the
  customer buys.

The model is learned on the training history alone (:mod:`promo.ml.repeat_learning`): at
a few weekly cut-offs inside it (the last ``weeks`` weeks), features are computed from
what came before each cut-off and the label is whether the pair was bought in the week
after. Everything learned is a few arrays (standardisation and coefficients, and each
product category's adjustment of them), stored with the recommender.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from promo.ml.softmax_ranker import category_scores

NS_PER_DAY = 86_400 * 10**9
HALF_LIVES = (7.0, 30.0, 120.0)
POPULARITY_DAYS = 28.0
# Products sold at a store in this many weeks count as in stock there (as promo.ml.ranking.STOCK_WEEKS).
STOCK_WEEKS = 13.0
FEATURES = ("log_rows", "log_days", "log_w7", "log_w30", "log_w120", "log_since", "log_cycle",
            "due", "due_squared", "repurchase_logit", "log_buyers", "log_store_buyers",
            "log_share", "log_products", "due_x_days", "due_squared_x_days", "since_x_days",
            "w30_x_days", "due_x_repurchase")


@dataclasses.dataclass(frozen=True)
class PairState:
    """What is known of each (customer, product) pair at a reference time, as arrays.

    Days are whole days since the epoch (float); weights are decayed to ``at_day``.
    """

    rows: np.ndarray
    days: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    weights: np.ndarray       # (n_pairs, len(HALF_LIVES))


@dataclasses.dataclass(frozen=True)
class PurchaseIndex:
    """The purchase rows indexed once, so the state at any cut-off is a few bincounts.

    ``pairs`` are the sorted keys ``user * n_items + item``; ``day_*`` list each pair's
    distinct purchase days in order, with the first instant bought that day.
    """

    n_items: int
    times: np.ndarray
    users: np.ndarray
    items: np.ndarray
    locations: np.ndarray
    pairs: np.ndarray
    pair_of_row: np.ndarray
    day_pair: np.ndarray
    day_value: np.ndarray
    day_first_time: np.ndarray
    pair_start: np.ndarray

    @classmethod
    def build(cls, users: np.ndarray, items: np.ndarray, times: np.ndarray, locations: np.ndarray,
              n_items: int) -> "PurchaseIndex":
        order = np.argsort(times, kind="stable")
        users, items, times, locations = users[order], items[order], times[order], locations[order]
        pairs, pair_of_row = np.unique(users.astype(np.int64) * n_items + items, return_inverse=True)
        day = times // NS_PER_DAY
        base = int(day.min()) if len(day) else 0
        span = int(day.max()) - base + 1 if len(day) else 1
        # Rows are in time order, so the first occurrence of a (pair, day) is its first instant.
        keys, first_row = np.unique(pair_of_row.astype(np.int64) * span + (day - base), return_index=True)
        day_pair = keys // span
        return cls(n_items, times, users, items, locations, pairs, pair_of_row, day_pair,
                   (keys % span + base).astype(float), times[first_row],
                   np.searchsorted(day_pair, np.arange(len(pairs))))

    def state_at(self, at_ns: int) -> tuple[np.ndarray, PairState]:
        """(indexes into ``pairs`` of the pairs bought before ``at_ns``, their state then)."""
        size = len(self.pairs)
        before = self.times < at_ns
        rows_of = self.pair_of_row[before]
        rows = np.bincount(rows_of, minlength=size)
        present = np.flatnonzero(rows)
        age = (at_ns - self.times[before]) / NS_PER_DAY
        weights = np.column_stack([np.bincount(rows_of, 0.5 ** (age / half_life), size)[present]
                                   for half_life in HALF_LIVES]).astype(np.float32)
        # A pair's days before ``at_ns`` are a prefix of its days.
        days = np.bincount(self.day_pair[self.day_first_time < at_ns], minlength=size)[present]
        start = self.pair_start[present]
        first = self.day_value[start]
        last = self.day_value[start + days - 1]
        return present, PairState(rows[present].astype(np.float32), days.astype(np.float32), first, last,
                                  weights)


def pair_state(users: np.ndarray, items: np.ndarray, times: np.ndarray, n_items: int,
               at_ns: int) -> tuple[np.ndarray, PairState]:
    """Pairs (sorted keys ``user * n_items + item``) and their state at ``at_ns`` from the
    purchase rows (those at or after ``at_ns`` are ignored)."""
    index = PurchaseIndex.build(users, items, times, np.full(len(times), -1), n_items)
    present, state = index.state_at(at_ns + 1)
    return index.pairs[present], state


def item_cycles(pair_items: np.ndarray, state: PairState, n_items: int) -> np.ndarray:
    """Per item, the median cycle (days) of its repeat buyers; NaN where nobody repeated."""
    repeated = state.days > 1
    cycles = (state.last_day - state.first_day)[repeated] / (state.days[repeated] - 1)
    items = pair_items[repeated]
    result = np.full(n_items, np.nan)
    if len(items):
        order = np.lexsort((cycles, items))
        items, cycles = items[order], cycles[order]
        starts = np.r_[0, np.flatnonzero(np.diff(items)) + 1]
        ends = np.r_[starts[1:], len(items)]
        middle_low, middle_high = starts + (ends - starts - 1) // 2, starts + (ends - starts) // 2
        result[items[starts]] = (cycles[middle_low] + cycles[middle_high]) / 2
    return result


def features(state: PairState, at_day: float, cycle_of_item: np.ndarray,
             repurchase_rate: np.ndarray, buyers: np.ndarray, store_buyers: np.ndarray,
             customer_of_pair: np.ndarray | None, horizon_days: float) -> np.ndarray:
    """The design matrix (n_pairs, len(FEATURES)), unstandardised.

    ``cycle_of_item``, ``repurchase_rate``, ``buyers`` and ``store_buyers`` are per pair
    (the pair's product's values); ``customer_of_pair`` groups pairs by customer (any
    integer codes), for the share and product-count features.
    """
    since = np.maximum(at_day - state.last_day, 0.0)
    own = np.where(state.days > 1, (state.last_day - state.first_day) / np.maximum(state.days - 1, 1),
                   np.nan)
    cycle = np.maximum(np.where(np.isnan(own), cycle_of_item, own), 1.0)
    due = np.clip(np.log((since + horizon_days) / cycle), -4.0, 4.0)
    rate = np.clip(repurchase_rate, 1e-4, 1 - 1e-4)
    recent = state.weights[:, 1].astype(float)
    if customer_of_pair is None:       # one customer's pairs (a request)
        total, products = np.full(len(recent), recent.sum()), np.full(len(recent), float(len(recent)))
    else:
        _, codes = np.unique(customer_of_pair, return_inverse=True)
        total = np.bincount(codes, recent)[codes]
        products = np.bincount(codes)[codes].astype(float)
    log_days, repurchase = np.log1p(state.days), np.log(rate / (1 - rate))
    # Crossed with how habitual the pair is: being due means more for a weekly staple
    # than for something bought twice.
    return np.column_stack([
        np.log1p(state.rows), log_days,
        np.log1p(state.weights[:, 0]), np.log1p(state.weights[:, 1]), np.log1p(state.weights[:, 2]),
        np.log1p(since), np.log(cycle), due, due ** 2, repurchase,
        np.log1p(buyers), np.log1p(store_buyers),
        np.log(np.maximum(recent, 1e-6) / np.maximum(total, 1e-6)), np.log1p(products),
        due * log_days, due ** 2 * log_days, np.log1p(since) * log_days,
        np.log1p(state.weights[:, 1]) * log_days, due * repurchase,
    ])


@dataclasses.dataclass(frozen=True)
class LinearRanker:
    """Standardisation and coefficients over :data:`FEATURES`, and optionally each product
    category's intercept and adjustment of them (:func:`promo.ml.softmax_ranker.fit_softmax`)."""

    means: np.ndarray
    scales: np.ndarray
    coef: np.ndarray
    category_coef: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, len(FEATURES) + 1)))

    def score(self, design: np.ndarray, categories: np.ndarray | None = None) -> np.ndarray:
        """Logits (only their order within a customer matters); ``categories``, the
        candidates' category codes (-1: none), adds their categories' adjustments."""
        standard = (design - self.means) / self.scales
        scores = standard @ self.coef
        if categories is not None and len(self.category_coef):
            scores += category_scores(standard, categories, self.category_coef)
        return scores

    def probability(self, design: np.ndarray, intercept: float = 0.0) -> np.ndarray:
        return expit(self.score(design) + intercept)

    @classmethod
    def fit(cls, design: np.ndarray, labels: np.ndarray, C: float = 1.0,
            sample_weight: np.ndarray | None = None) -> "LinearRanker":
        means = design.mean(axis=0)
        scales = design.std(axis=0)
        scales[scales < 1e-9] = 1.0
        regression = LogisticRegression(C=C, max_iter=500)
        regression.fit((design - means) / scales, labels, sample_weight=sample_weight)
        return cls(means, scales, regression.coef_[0].astype(np.float64))

    @classmethod
    def empty(cls) -> "LinearRanker":
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))

    @property
    def learned(self) -> bool:
        return len(self.coef) == len(FEATURES)


@dataclasses.dataclass(frozen=True)
class ItemStats:
    """Per item: median cycle, repurchase rate and recent buyers; per (store, item):
    recent buyers, as a CSR over stores (``store_items`` sorted within each store)."""

    cycle: np.ndarray
    repurchase_rate: np.ndarray
    buyers: np.ndarray
    stores: np.ndarray
    store_indptr: np.ndarray
    store_items: np.ndarray
    store_buyers: np.ndarray

    def at_store(self, store: int | None, items: np.ndarray) -> np.ndarray:
        """Recent buyers of ``items`` at ``store`` (0 where none, or no such store)."""
        result = np.zeros(len(items))
        if store is None or len(self.stores) == 0:
            return result
        position = int(np.searchsorted(self.stores, store))
        if position >= len(self.stores) or self.stores[position] != store:
            return result
        start, end = self.store_indptr[position], self.store_indptr[position + 1]
        row = self.store_items[start:end]
        if len(row) == 0:
            return result
        at = np.searchsorted(row, items).clip(max=len(row) - 1)
        found = row[at] == items
        result[found] = self.store_buyers[start:end][at[found]]
        return result


REPURCHASE_PRIOR_BUYERS = 5.0


def item_stats(pair_items: np.ndarray, state: PairState, n_items: int, users: np.ndarray,
               items: np.ndarray, times: np.ndarray, locations: np.ndarray,
               at_ns: int) -> ItemStats:
    """The item-level figures at ``at_ns`` from the purchase rows before it."""
    cycle = item_cycles(pair_items, state, n_items)
    overall_cycle = float(np.nanmedian(cycle)) if np.isfinite(cycle).any() else 30.0
    cycle = np.where(np.isnan(cycle), overall_cycle, cycle).astype(np.float32)
    buyers_all = np.bincount(pair_items, minlength=n_items).astype(float)
    repeaters = np.bincount(pair_items, state.days > 1, n_items)
    overall = repeaters.sum() / max(buyers_all.sum(), 1)
    rate = ((repeaters + REPURCHASE_PRIOR_BUYERS * overall)
            / (buyers_all + REPURCHASE_PRIOR_BUYERS)).astype(np.float32)
    recent = times >= at_ns - POPULARITY_DAYS * NS_PER_DAY
    recent_pairs = np.unique(users[recent].astype(np.int64) * n_items + items[recent])
    buyers = np.bincount(recent_pairs % n_items, minlength=n_items).astype(np.float32)
    located = recent & (locations >= 0)
    # One buyer counts once per (store, item): distinct (store, item, user) keys.
    n_users = int(users.max()) + 1 if len(users) else 1
    triples = np.unique((locations[located].astype(np.int64) * n_items + items[located]) * n_users
                        + users[located])
    store_item, counts = np.unique(triples // n_users, return_counts=True)
    store_of, item_of = store_item // n_items, store_item % n_items
    stores = np.unique(store_of)
    indptr = np.r_[np.searchsorted(store_of, stores), len(store_of)].astype(np.int64)
    return ItemStats(cycle, rate, buyers, stores.astype(np.int64), indptr,
                     item_of.astype(np.int32), counts.astype(np.float32))


def usual_stores(users: np.ndarray, locations: np.ndarray, n_users: int) -> np.ndarray:
    """Per user, the location of most of their purchases (-1 when none is known)."""
    result = np.full(n_users, -1, np.int64)
    located = locations >= 0
    if not located.any():
        return result
    codes, code_of = np.unique(locations[located], return_inverse=True)
    counts = np.bincount(users[located].astype(np.int64) * len(codes) + code_of,
                         minlength=n_users * len(codes)).reshape(n_users, len(codes))
    # argmax takes the first of equal counts: the lowest location id, as codes are sorted.
    seen = counts.max(axis=1) > 0
    result[seen] = codes[counts[seen].argmax(axis=1)]
    return result


def design_at(index: PurchaseIndex, n_users: int, at_ns: int, horizon_days: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pair keys, design matrix, whether the pair could be served) of every pair bought
    before ``at_ns``, each customer at their usual store.

    A pair can be served when its product sold at the customer's usual store in the
    :data:`STOCK_WEEKS` before ``at_ns`` (how the evaluation and the demo's stock view
    tell what is in stock); every pair of a customer with no known store can.
    """
    n_items = index.n_items
    present, state = index.state_at(at_ns)
    pairs = index.pairs[present]
    pair_users, pair_items = pairs // n_items, pairs % n_items
    before = index.times < at_ns
    u, i, t, loc = index.users[before], index.items[before], index.times[before], index.locations[before]
    stats = item_stats(pair_items, state, n_items, u, i, t, loc, at_ns)
    stores = usual_stores(u, loc, n_users)[pair_users]
    store_buyers = np.zeros(len(pairs))
    for store in np.unique(stores):
        chosen = stores == store
        store_buyers[chosen] = stats.at_store(int(store), pair_items[chosen])
    design = features(state, at_ns / NS_PER_DAY, stats.cycle[pair_items],
                      stats.repurchase_rate[pair_items], stats.buyers[pair_items], store_buyers,
                      pair_users, horizon_days)
    recent = (t >= at_ns - STOCK_WEEKS * 7 * NS_PER_DAY) & (loc >= 0)
    stocked = np.unique(loc[recent].astype(np.int64) * n_items + i[recent])
    servable = (stores < 0) | np.isin(stores * n_items + pair_items, stocked)
    return pairs, design, servable
