"""Offline evaluation of product recommenders: time split, ground truth, metrics, baselines.

The question the evaluation asks is the one the service answers: given what a customer did
before a cutoff, which ten products will they buy after it? It is asked twice, because the
two recommendation modes promise different things:

repeat
    products bought after the cutoff that the customer had already bought before it;
discovery
    products bought after the cutoff that the customer had never bought before it.

Every model is judged with the same candidate rules (repeat may only suggest purchased
products, discovery never does), so a baseline cannot win by suggesting what the mode
forbids. The baselines have the recommender's ``fit`` / ``recommend`` interface.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from promo.ml.frames import check_columns
from promo.ml.recommender import (BOUGHT_BEFORE, FALLBACK_POPULAR, MODES, Recommendation,
                                  Recommender)

PURCHASE = "purchase"


class ProductRecommender(Protocol):
    """What :func:`evaluate_recommenders` needs from a model."""

    def recommend(self, customer: int | None, *, mode: str = ...,
                  limit: int = ...) -> list[Recommendation]: ...


# --- split and ground truth -------------------------------------------------------------


def split_by_time(history: pd.DataFrame, cutoff) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``history`` into what happened before ``cutoff`` and what happened from it on.

    Parameters
    ----------
    history : pandas.DataFrame
        The history frame of :mod:`promo.ml.frames`.
    cutoff : str, datetime or numpy.datetime64
        The first instant of the test period.

    Returns
    -------
    train, test : pandas.DataFrame
        ``occurred_at < cutoff`` and ``occurred_at >= cutoff``; together, every row once.
    """
    check_columns("history", history)
    before = (history["occurred_at"] < pd.Timestamp(cutoff)).to_numpy()
    return history[before], history[~before]


def relevant_products(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, dict[int, np.ndarray]]:
    """The products each test customer went on to buy, per mode.

    Only customers who appear in ``train`` are judged (a model knows nothing of the
    others), and a customer with nothing relevant in a mode is left out of that mode:
    their score would be zero whatever a model did.

    Returns
    -------
    dict
        ``{"repeat": {customer: products}, "discovery": {customer: products}}`` with the
        products as sorted int64 arrays. Repeat products were purchased in both periods;
        discovery products were purchased in the test period and never in the training one.
    """
    known = pd.unique(train["customer"])
    bought_before = _purchase_pairs(train)
    bought_after = _purchase_pairs(test)
    bought_after = bought_after[bought_after["customer"].isin(known)]
    seen = bought_after.merge(bought_before, on=["customer", "product"], how="left",
                              indicator=True)["_merge"].eq("both").to_numpy()
    relevant = {}
    for mode, rows in (("repeat", bought_after[seen]), ("discovery", bought_after[~seen])):
        relevant[mode] = {int(customer): np.sort(group["product"].to_numpy(np.int64))
                          for customer, group in rows.groupby("customer", sort=True)}
    return relevant


def _purchase_pairs(history: pd.DataFrame) -> pd.DataFrame:
    purchases = history.loc[history["type"] == PURCHASE, ["customer", "product"]]
    return purchases.drop_duplicates(ignore_index=True)


# --- metrics (binary relevance, one customer at a time) ----------------------------------


def _hits(recommended: Sequence[int], relevant: np.ndarray, k: int) -> np.ndarray:
    top = np.asarray(recommended, dtype=np.int64)[:k]
    return np.isin(top, relevant)


def hit_rate_at_k(recommended: Sequence[int], relevant: np.ndarray, k: int = 10) -> float:
    """1.0 if any of the first ``k`` recommended products is relevant, else 0.0."""
    return float(_hits(recommended, relevant, k).any())


def recall_at_k(recommended: Sequence[int], relevant: np.ndarray, k: int = 10) -> float:
    """The share of the relevant products found among the first ``k`` recommended.

    The denominator is the number of relevant products, not ``min(k, ...)``: a customer
    who bought 40 new products cannot reach 1.0 at ten, and every model shares that cap.
    """
    if len(relevant) == 0:
        return 0.0
    return float(_hits(recommended, relevant, k).sum() / len(relevant))


def ndcg_at_k(recommended: Sequence[int], relevant: np.ndarray, k: int = 10) -> float:
    """Normalised discounted cumulative gain of the first ``k`` recommended, binary gains.

    A hit at rank ``r`` (1-based) gains ``1 / log2(r + 1)``; the ideal ranking puts
    ``min(k, len(relevant))`` hits first.
    """
    hits = _hits(recommended, relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[:min(k, len(relevant))].sum()
    if ideal == 0:
        return 0.0
    return float((hits * discounts[:len(hits)]).sum() / ideal)


METRICS: dict[str, Callable[[Sequence[int], np.ndarray, int], float]] = {
    "hit_rate": hit_rate_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
}


def evaluate_recommenders(train: pd.DataFrame, test: pd.DataFrame,
                          models: Mapping[str, ProductRecommender], k: int = 10,
                          progress: Callable[[Iterable], Iterable] | None = None) -> pd.DataFrame:
    """Score fitted models on what the customers of ``train`` bought in ``test``.

    Parameters
    ----------
    train, test : pandas.DataFrame
        History frames, typically from :func:`split_by_time`; the models must have been
        fitted on ``train``.
    models : mapping of str to fitted recommender
        Each answers ``recommend(customer, mode=mode, limit=k)`` with recommendations
        (objects with a ``product``) or plain product ids.
    k : int, default=10
        How many recommendations are judged.
    progress : callable, optional
        Wraps the iterable of customers of each (mode, model), e.g. ``tqdm.tqdm``.

    Returns
    -------
    pandas.DataFrame
        One row per (mode, model) with columns mode, model, users (customers judged),
        hit_rate, recall and ndcg (means over the customers judged).
    """
    relevant = relevant_products(train, test)
    rows = []
    for mode in MODES:
        customers = list(relevant[mode].items())
        for name, model in models.items():
            sums = dict.fromkeys(METRICS, 0.0)
            judged = customers if progress is None else progress(customers)
            for customer, products in judged:
                recommended = [getattr(item, "product", item)
                               for item in model.recommend(customer, mode=mode, limit=k)]
                for metric, score in METRICS.items():
                    sums[metric] += score(recommended, products, k)
            users = len(customers)
            rows.append({"mode": mode, "model": name, "users": users,
                         **{metric: total / max(users, 1) for metric, total in sums.items()}})
    return pd.DataFrame(rows, columns=["mode", "model", "users", *METRICS])


def compare_recommenders(history: pd.DataFrame, cutoff, models: Mapping | None = None,
                         k: int = 10, products: pd.DataFrame | None = None,
                         progress: Callable[[Iterable], Iterable] | None = None) -> pd.DataFrame:
    """Fit each model on the history before ``cutoff`` and judge it on the rest.

    Parameters
    ----------
    history : pandas.DataFrame
        The whole history frame.
    cutoff : str, datetime or numpy.datetime64
        Where training ends and testing starts (see :func:`split_by_time`).
    models : mapping of str to unfitted estimator, optional
        Defaults to :class:`~promo.ml.recommender.Recommender` and the three baselines
        (the ALS one needs implicit).
    k, progress
        As for :func:`evaluate_recommenders`.
    products : pandas.DataFrame, optional
        Passed to every ``fit``.

    Returns
    -------
    pandas.DataFrame
        The :func:`evaluate_recommenders` table plus each model's fit_seconds.
    """
    if models is None:
        models = {"recommender": Recommender(), "popularity": PopularityBaseline(),
                  "own_frequency": OwnFrequencyBaseline(), "als": ALSBaseline()}
    train, test = split_by_time(history, cutoff)
    fitted, seconds = {}, {}
    for name, model in models.items():
        started = time.perf_counter()
        fitted[name] = model.fit(train, products)
        seconds[name] = time.perf_counter() - started
    table = evaluate_recommenders(train, test, fitted, k=k, progress=progress)
    return table.assign(fit_seconds=table["model"].map(seconds))


# --- baselines ---------------------------------------------------------------------------


class _PurchaseBaseline(BaseEstimator):
    """What every baseline learns: the product index, purchase counts and popularity.

    Baselines look at purchases only, unlike the recommender, which also weighs carts
    and views; that is part of what is being compared.
    """

    def _fit_purchases(self, history: pd.DataFrame) -> sp.csr_matrix:
        check_columns("history", history)
        purchases = history[history["type"] == PURCHASE]
        self.products_, items = np.unique(purchases["product"].to_numpy(np.int64),
                                          return_inverse=True)
        self.customers_, users = np.unique(purchases["customer"].to_numpy(np.int64),
                                           return_inverse=True)
        # Purchase rows, not quantities: a quantity of 30 litres of fuel is not 30 purchases.
        counts = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)),
                               shape=(len(self.customers_), len(self.products_)))
        counts.sum_duplicates()
        self.counts_ = counts
        # Popularity is the number of buyers: one family's weekly milk is not a trend.
        self.popularity_ = np.bincount(counts.indices, minlength=len(self.products_))
        self.popular_order_ = np.argsort(-self.popularity_, kind="stable")
        return counts

    def _user_index(self, customer: int | None) -> int | None:
        """The customer's row, None when the customer bought nothing in the training data."""
        if customer is None:
            return None
        position = int(np.searchsorted(self.customers_, customer))
        if position < len(self.customers_) and self.customers_[position] == customer:
            return position
        return None

    def _row(self, customer: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The item indexes a customer bought and how often (empty when unknown)."""
        user = self._user_index(customer)
        if user is None:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        start, end = self.counts_.indptr[user], self.counts_.indptr[user + 1]
        return self.counts_.indices[start:end].astype(np.int64), self.counts_.data[start:end]

    def _popular_excluding(self, bought: np.ndarray, limit: int) -> list[Recommendation]:
        """The most popular products outside ``bought`` (discovery's fallback)."""
        order = self.popular_order_[:limit + len(bought)]
        order = order[~np.isin(order, bought)][:limit]
        return [Recommendation(int(self.products_[i]), float(self.popularity_[i]),
                               ((FALLBACK_POPULAR, None),)) for i in order]

    def _ranked(self, items: np.ndarray, scores: np.ndarray, limit: int,
                reason: str) -> list[Recommendation]:
        # Ties broken by popularity, then by id, so results do not depend on storage order.
        order = np.lexsort((items, -self.popularity_[items], -scores))[:limit]
        return [Recommendation(int(self.products_[items[i]]), float(scores[i]), ((reason, None),))
                for i in order]


class PopularityBaseline(_PurchaseBaseline):
    """Most-bought products (by number of buyers), the same list for everybody.

    Repeat mode ranks the customer's own purchased products by that popularity; discovery
    mode returns the most popular products the customer never bought.
    """

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Learn product popularity from the purchases of ``history``; return self."""
        self._fit_purchases(history)
        return self

    def recommend(self, customer: int | None, *, mode: str = "repeat",
                  limit: int = 10) -> list[Recommendation]:
        """The ``limit`` most popular products allowed by ``mode`` for ``customer``."""
        bought, _ = self._row(customer)
        if mode == "repeat":
            return self._ranked(bought, self.popularity_[bought].astype(float), limit,
                                BOUGHT_BEFORE)
        return self._popular_excluding(bought, limit)


class OwnFrequencyBaseline(_PurchaseBaseline):
    """The customer's own most frequently bought products.

    Repeat mode ranks the customer's purchased products by how many times they bought
    each (ties by popularity). Discovery mode cannot use the customer's own products at
    all, so it falls back to global popularity: there it is :class:`PopularityBaseline`.
    """

    def fit(self, history: pd.DataFrame, products: pd.DataFrame | None = None):
        """Learn purchase counts and popularity from ``history``; return self."""
        self._fit_purchases(history)
        return self

    def recommend(self, customer: int | None, *, mode: str = "repeat",
                  limit: int = 10) -> list[Recommendation]:
        """The customer's most bought products (repeat) or popular new ones (discovery)."""
        bought, counts = self._row(customer)
        if mode == "repeat":
            return self._ranked(bought, counts.astype(float), limit, BOUGHT_BEFORE)
        return self._popular_excluding(bought, limit)


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
    and judged on October: a baseline is only worth beating at its best. Stronger
    regularisation and weaker confidence than implicit's defaults suit this data.

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

    def recommend(self, customer: int | None, *, mode: str = "repeat",
                  limit: int = 10) -> list[Recommendation]:
        """ALS's best ``limit`` products for ``customer`` allowed by ``mode``."""
        user = self._user_index(customer)
        if user is None:
            return [] if mode == "repeat" else self._popular_excluding(np.empty(0, np.int64),
                                                                        limit)
        row = self.user_items_[user]
        if mode == "repeat":
            bought = row.indices.astype(np.int64)
            if len(bought) == 0:
                return []
            items, scores = self.model_.recommend(user, row, N=limit,
                                                  filter_already_liked_items=False, items=bought)
            reasons = ((BOUGHT_BEFORE, None),)
        else:
            items, scores = self.model_.recommend(user, row, N=limit,
                                                  filter_already_liked_items=True)
            reasons = ()  # latent factors name no product or rule
        return [Recommendation(int(self.products_[item]), float(score), reasons)
                for item, score in zip(items, scores)]
