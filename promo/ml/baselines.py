"""The simple rules a recommender has to beat, with the recommender's interface.

Repeat mode ("buy again") is judged against what any retailer can do in SQL:

buy-again by count
    the customer's own products by how many times they bought them, all time;
buy-again by recency
    the same count with every purchase decayed exponentially by age, the half-life
    tuned on the training data only (:func:`tune_half_life`);
repurchase cycle
    the customer's products by how often they come round and whether they are due:
    the purchase rate of the product's own cycle, damped while it was bought too
    recently to be needed again.

Discovery ("you may also like") is judged against global popularity and implicit's ALS.
Every baseline follows the recommender's candidate rules (repeat may only suggest
purchased products, discovery never does) and honours the same ``location`` /
``available`` arguments, so in-stock filtering is applied to all alike.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from promo.ml.frames import check_columns
from promo.ml.recommender import BOUGHT_BEFORE, FALLBACK_POPULAR, MODES, Recommendation

PURCHASE = "purchase"
NS_PER_DAY = 86_400 * 10**9
# Half-lives (days) the recency baseline chooses from; inf is the plain count.
HALF_LIFE_GRID = (7.0, 14.0, 30.0, 60.0, 120.0, 240.0, np.inf)
Available = Callable[[np.ndarray], np.ndarray]


def default_baselines(als: bool = True) -> dict[str, BaseEstimator]:
    """The competitors of ``promo evaluate``, each at its best, by name."""
    models: dict[str, BaseEstimator] = {
        "popularity": PopularityBaseline(), "buy_again_count": BuyAgainCountBaseline(),
        "buy_again_recency": BuyAgainRecencyBaseline(), "repurchase_cycle": RepurchaseCycleBaseline()}
    if als:
        models["implicit_als"] = ALSBaseline()
    return models


class _PurchaseBaseline(BaseEstimator):
    """What every baseline learns: the product index, purchase counts and popularity.

    Baselines look at purchases only, unlike the recommender, which also weighs carts
    and views; that is part of what is being compared.
    """

    modes: Sequence[str] = MODES

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Learn the product index, purchase counts and popularity from the purchases of
        ``history``; return self (baselines that learn more extend it)."""
        self._fit_purchases(history)
        return self

    def _fit_purchases(self, history: pd.DataFrame) -> sp.csr_matrix:
        check_columns("history", history)
        purchases = history[history["type"] == PURCHASE]
        self.products_, items = np.unique(purchases["product"].to_numpy(np.int64),
                                          return_inverse=True)
        self.customers_, users = np.unique(purchases["customer"].to_numpy(np.int64),
                                           return_inverse=True)
        times = purchases["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)
        self.data_until_ = np.datetime64(int(times.max()), "ns") if len(times) else None
        self._users, self._items, self._times = users, items, times
        # Purchase rows, not quantities: a quantity of 30 litres of fuel is not 30 purchases.
        counts = self._matrix(np.ones(len(users), np.float32))
        self.counts_ = counts
        # Popularity is the number of buyers: one family's weekly milk is not a trend.
        self.popularity_ = np.bincount(counts.indices, minlength=len(self.products_))
        self.popular_order_ = np.argsort(-self.popularity_, kind="stable")
        return counts

    def _matrix(self, values: np.ndarray) -> sp.csr_matrix:
        """A customer x product matrix of ``values`` summed over the purchase rows."""
        matrix = sp.csr_matrix((values, (self._users, self._items)),
                               shape=(len(self.customers_), len(self.products_)))
        matrix.sum_duplicates()
        return matrix

    def _user_index(self, customer: int | None) -> int | None:
        """The customer's row, None when the customer bought nothing in the training data."""
        if customer is None:
            return None
        position = int(np.searchsorted(self.customers_, customer))
        if position < len(self.customers_) and self.customers_[position] == customer:
            return position
        return None

    def _row(self, customer: int | None, matrix: sp.csr_matrix | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """The item indexes a customer bought and their values (empty when unknown)."""
        matrix = self.counts_ if matrix is None else matrix
        user = self._user_index(customer)
        if user is None:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        start, end = matrix.indptr[user], matrix.indptr[user + 1]
        return matrix.indices[start:end].astype(np.int64), matrix.data[start:end]

    def _in_stock(self, items: np.ndarray, available: Available | None) -> np.ndarray:
        if available is None or len(items) == 0:
            return np.ones(len(items), bool)
        return np.asarray(available(self.products_[items]), dtype=bool)

    def _popular_excluding(self, bought: np.ndarray, limit: int,
                           available: Available | None = None) -> list[Recommendation]:
        """The most popular products outside ``bought`` (discovery's answer)."""
        order = self.popular_order_[~np.isin(self.popular_order_, bought)]
        if available is not None:
            head = order[:max(50 * limit, 2000)]
            order = head[self._in_stock(head, available)]
        return [Recommendation(int(self.products_[i]), float(self.popularity_[i]),
                               ((FALLBACK_POPULAR, None),)) for i in order[:limit]]

    def _ranked(self, items: np.ndarray, scores: np.ndarray, limit: int,
                available: Available | None = None) -> list[Recommendation]:
        keep = self._in_stock(items, available)
        items, scores = items[keep], np.asarray(scores, dtype=float)[keep]
        # Ties broken by popularity, then by id, so results do not depend on storage order.
        order = np.lexsort((items, -self.popularity_[items], -scores))[:limit]
        return [Recommendation(int(self.products_[items[i]]), float(scores[i]),
                               ((BOUGHT_BEFORE, None),)) for i in order]

    def _ns(self, now) -> int:
        return int(pd.Timestamp(now).as_unit("ns").value) if now is not None \
            else int(self.data_until_.astype(np.int64))


class PopularityBaseline(_PurchaseBaseline):
    """Most-bought products (by number of buyers), the same list for everybody.

    Repeat mode ranks the customer's own purchased products by that popularity; discovery
    mode returns the most popular products the customer never bought.
    """

    def recommend(self, customer: int | None, *, mode: str = "repeat", limit: int = 10,
                  location: int | None = None, available: Available | None = None,
                  now=None) -> list[Recommendation]:
        """The ``limit`` most popular products allowed by ``mode`` for ``customer``."""
        bought, _ = self._row(customer)
        if mode == "repeat":
            return self._ranked(bought, self.popularity_[bought].astype(float), limit, available)
        return self._popular_excluding(bought, limit, available)


class BuyAgainCountBaseline(_PurchaseBaseline):
    """Buy again, by count: the customer's products by how many times they bought each,
    all time (ties by popularity). Repeat mode only: in discovery it has nothing of its own."""

    modes = ("repeat",)

    def recommend(self, customer: int | None, *, mode: str = "repeat", limit: int = 10,
                  location: int | None = None, available: Available | None = None,
                  now=None) -> list[Recommendation]:
        """The customer's most bought products, in stock."""
        _check_repeat(mode)
        bought, counts = self._row(customer)
        return self._ranked(bought, counts, limit, available)


class BuyAgainRecencyBaseline(_PurchaseBaseline):
    """Buy again, by recency-weighted count: each purchase counts ``0.5 ** (age /
    half_life_days)``, its age taken at the end of the training data.

    Parameters
    ----------
    half_life_days : float or None, default=None
        None tunes it on the training data only (:func:`tune_half_life` over
        ``half_life_grid``, judged on its last ``tuning_weeks`` weeks).
    half_life_grid : tuple of float, default=HALF_LIFE_GRID
    tuning_weeks : int, default=3
    horizon_days : float, default=7
        The period after each tuning cut-off whose purchases are predicted.
    """

    modes = ("repeat",)

    def __init__(self, half_life_days: float | None = None,
                 half_life_grid: tuple[float, ...] = HALF_LIFE_GRID, tuning_weeks: int = 3,
                 horizon_days: float = 7.0):
        self.half_life_days = half_life_days
        self.half_life_grid = half_life_grid
        self.tuning_weeks = tuning_weeks
        self.horizon_days = horizon_days

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Tune the half-life if not given, then learn the decayed counts; return self."""
        half_life = self.half_life_days
        if half_life is None:
            half_life, self.tuning_ = tune_half_life(history, self.half_life_grid,
                                                     self.tuning_weeks, self.horizon_days)
        self.half_life_ = float(half_life)
        self._fit_purchases(history)
        age = (int(self.data_until_.astype(np.int64)) - self._times) / NS_PER_DAY
        self.weights_ = self._matrix(decay(age, self.half_life_))
        return self

    def recommend(self, customer: int | None, *, mode: str = "repeat", limit: int = 10,
                  location: int | None = None, available: Available | None = None,
                  now=None) -> list[Recommendation]:
        """The customer's products by decayed count (the same order at any ``now``)."""
        _check_repeat(mode)
        bought, weights = self._row(customer, self.weights_)
        return self._ranked(bought, weights, limit, available)


class RepurchaseCycleBaseline(_PurchaseBaseline):
    """Buy again, by repurchase cycle: products that come round often and are due.

    A (customer, product) bought on ``n >= 2`` distinct days has a cycle of ``(last -
    first) / (n - 1)`` days; one bought once takes the product's median cycle over its
    repeat buyers (or the overall median). The score is the pair's purchase rate since
    its first purchase, damped while the time since the last purchase (plus the horizon)
    is under a cycle: ``n / (now - first + horizon) * min(1, (since_last + horizon) / cycle)``.

    Parameters
    ----------
    horizon_days : float, default=7
        How far ahead the rule looks: a product due within it counts as due.
    """

    modes = ("repeat",)

    def __init__(self, horizon_days: float = 7.0):
        self.horizon_days = horizon_days

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Learn each pair's cycle and last purchase; return self."""
        self._fit_purchases(history)
        days = self._times // NS_PER_DAY
        pairs = pd.DataFrame({"user": self._users, "item": self._items, "day": days})
        per_pair = pairs.drop_duplicates().groupby(["user", "item"], sort=True)["day"] \
            .agg(["min", "max", "size"])
        repeated = per_pair["size"] > 1
        cycle = ((per_pair["max"] - per_pair["min"]) / (per_pair["size"] - 1)).where(repeated)
        overall = float(cycle.median()) if repeated.any() else 30.0
        by_item = cycle.groupby(level="item").median()
        fallback = by_item.reindex(per_pair.index.get_level_values("item")).to_numpy()
        filled = np.where(repeated, cycle.to_numpy(), np.nan_to_num(fallback, nan=overall))
        users = per_pair.index.get_level_values("user").to_numpy()
        items = per_pair.index.get_level_values("item").to_numpy()
        shape = (len(self.customers_), len(self.products_))
        self.cycle_ = sp.csr_matrix((np.maximum(filled, 1.0), (users, items)), shape=shape)
        # Days stored + 1 so that day 0 is not a structural zero.
        self.last_day_ = sp.csr_matrix((per_pair["max"].to_numpy(float) + 1, (users, items)),
                                       shape=shape)
        self.first_day_ = sp.csr_matrix((per_pair["min"].to_numpy(float) + 1, (users, items)),
                                        shape=shape)
        self.days_ = sp.csr_matrix((per_pair["size"].to_numpy(float), (users, items)), shape=shape)
        return self

    def recommend(self, customer: int | None, *, mode: str = "repeat", limit: int = 10,
                  location: int | None = None, available: Available | None = None,
                  now=None) -> list[Recommendation]:
        """The customer's products by cycle rate and due-ness at ``now``."""
        _check_repeat(mode)
        bought, cycle = self._row(customer, self.cycle_)
        _, last = self._row(customer, self.last_day_)
        _, first = self._row(customer, self.first_day_)
        _, days = self._row(customer, self.days_)
        today = self._ns(now) / NS_PER_DAY
        rate = days / (today - (first - 1) + self.horizon_days)
        scores = rate * np.minimum(1.0, (today - (last - 1) + self.horizon_days) / cycle)
        return self._ranked(bought, scores, limit, available)


class ALSBaseline(_PurchaseBaseline):
    """Matrix factorisation with implicit's Alternating Least Squares.

    The purchase-count matrix is BM25-weighted (as implicit's own examples do) before
    factorising. Candidates follow the recommender's rules: repeat mode ranks only the
    customer's purchased products, discovery mode excludes them. Customers unknown to the
    model get nothing in repeat mode and the most popular products in discovery mode.

    Parameters
    ----------
    factors : int, default=64
    regularization : float, default=30
    alpha : float, default=0.25
        Confidence scale of the (BM25-weighted) purchases.
    iterations : int, default=15
    bm25_k1 : float, default=100
    bm25_b : float, default=0.8
    threads : int, default=2
        implicit's threads, capped at 2: the machines this runs on are small.
    random_state : int, default=0

    Notes
    -----
    The defaults are the best of a small grid (factors 32-256, regularization 0.05-100,
    alpha 0.1-5, BM25 K1 1.2 or 100) on The Complete Journey, trained before 2017-10-01
    and judged on October: a baseline is only worth beating at its best. The grid is kept
    in ``bench/tuning.py als``.

    implicit is an optional dependency (``pip install promo[bench]``), imported on fit.
    """

    def __init__(self, factors: int = 64, regularization: float = 30.0, alpha: float = 0.25,
                 iterations: int = 15, bm25_k1: float = 100.0, bm25_b: float = 0.8,
                 threads: int = 2, random_state: int = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.threads = threads
        self.random_state = random_state

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Factorise the BM25-weighted purchase matrix of ``history``; return self."""
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            from implicit.nearest_neighbours import bm25_weight
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("install promo[bench] for the ALS baseline") from error
        from threadpoolctl import threadpool_limits

        counts = self._fit_purchases(history)
        weighted = bm25_weight(counts, K1=self.bm25_k1, B=self.bm25_b).tocsr()
        # implicit parallelises itself; a multi-threaded BLAS underneath only contends with
        # it (and implicit warns about it), so BLAS gets one thread while it works.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, num_threads=min(max(self.threads, 1), 2),
                random_state=self.random_state)
            model.fit(weighted.astype(np.float32), show_progress=False)
        self.model_ = model
        self.user_items_ = weighted.astype(np.float32).tocsr()
        return self

    def recommend(self, customer: int | None, *, mode: str = "repeat", limit: int = 10,
                  location: int | None = None, available: Available | None = None,
                  now=None) -> list[Recommendation]:
        """ALS's best ``limit`` products for ``customer`` allowed by ``mode``, in stock."""
        user = self._user_index(customer)
        if user is None:
            return [] if mode == "repeat" else self._popular_excluding(
                np.empty(0, np.int64), limit, available)
        row = self.user_items_[user]
        bought = row.indices.astype(np.int64)
        if mode == "repeat":
            allowed = bought[self._in_stock(bought, available)]
            if len(allowed) == 0:
                return []
            items, scores = self.model_.recommend(user, row, N=limit,
                                                  filter_already_liked_items=False, items=allowed)
            reasons: tuple = ((BOUGHT_BEFORE, None),)
        else:
            # Over-asked, then filtered: the stock filter removes some of ALS's best.
            wanted = limit if available is None else max(20 * limit, 200)
            items, scores = self.model_.recommend(user, row, N=wanted,
                                                  filter_already_liked_items=True)
            keep = self._in_stock(np.asarray(items, dtype=np.int64), available)
            items, scores = np.asarray(items)[keep][:limit], np.asarray(scores)[keep][:limit]
            reasons = ()  # latent factors name no product or rule
        return [Recommendation(int(self.products_[item]), float(score), reasons)
                for item, score in zip(items, scores)]


def decay(age_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age / half_life)``; an infinite half-life gives 1 (a plain count)."""
    if not np.isfinite(half_life_days):
        return np.ones(len(age_days), np.float32)
    return (0.5 ** (np.asarray(age_days, dtype=float) / half_life_days)).astype(np.float32)


def _check_repeat(mode: str) -> None:
    if mode != "repeat":
        raise ValueError(f"a buy-again rule only answers mode 'repeat', not {mode!r}")


def repeat_recall(scored: pd.DataFrame, bought: pd.DataFrame, k: int = 10) -> float:
    """Mean recall@k of (customer, product, score) rankings of bought-before products.

    ``bought`` holds the (customer, product) pairs bought in the judged period; customers
    who re-bought nothing are not judged (as in :func:`promo.ml.ranking.relevant_products`).
    """
    relevant = scored[["customer", "product"]].merge(bought, on=["customer", "product"])
    if relevant.empty:
        return 0.0
    ranked = scored.sort_values(["customer", "score", "product"], ascending=[True, False, True])
    top = ranked.groupby("customer", sort=False).head(k)[["customer", "product"]]
    hits = top.merge(relevant, on=["customer", "product"]).groupby("customer").size()
    per_customer = relevant.groupby("customer").size()
    return float((hits.reindex(per_customer.index, fill_value=0) / per_customer).mean())


def tune_half_life(history: pd.DataFrame, grid: Sequence[float] = HALF_LIFE_GRID,
                   weeks: int = 3, horizon_days: float = 7.0) -> tuple[float, dict[str, float]]:
    """The half-life of the grid with the best buy-again recall@10 on ``history`` alone.

    The last ``weeks`` weeks of ``history`` give as many cut-offs; at each, the decayed
    counts of what came before rank each customer's products, judged on what they bought
    in the ``horizon_days`` after it. Nothing after ``history`` is read.

    Returns
    -------
    best : float
    recalls : dict of str to float
        The mean recall of every half-life of the grid, for the record.
    """
    check_columns("history", history)
    purchases = history.loc[history["type"] == PURCHASE, ["customer", "product", "occurred_at"]]
    end = purchases["occurred_at"].max()
    totals = dict.fromkeys(grid, 0.0)
    for week in range(1, weeks + 1):
        cutoff = end - pd.Timedelta(days=horizon_days * week)
        before = purchases[purchases["occurred_at"] < cutoff]
        after = purchases[(purchases["occurred_at"] >= cutoff)
                          & (purchases["occurred_at"] < cutoff + pd.Timedelta(days=horizon_days))]
        bought = after[["customer", "product"]].drop_duplicates()
        age = (cutoff - before["occurred_at"]).dt.total_seconds().to_numpy() / 86_400
        for half_life in grid:
            scored = before[["customer", "product"]].assign(score=decay(age, half_life)) \
                .groupby(["customer", "product"], sort=False)["score"].sum().reset_index()
            totals[half_life] += repeat_recall(scored, bought) / weeks
    best = max(grid, key=lambda half_life: (totals[half_life], -half_life))
    return float(best), {str(half_life): round(value, 5) for half_life, value in totals.items()}
