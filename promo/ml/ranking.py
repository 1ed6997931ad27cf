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

import dataclasses
import time
from typing import Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd

from promo.ml.frames import check_columns
from promo.ml.recommender import MODES, Recommendation, Recommender

PURCHASE = "purchase"
NO_LOCATION = -1
# The demo's synthetic stock holds what each store sold in its last 13 weeks.
STOCK_WEEKS = 13.0


class ProductRecommender(Protocol):
    """What :func:`evaluate_recommenders` needs from a model.

    A model may carry a ``modes`` attribute naming the modes it competes in (default:
    both): a buy-again rule has nothing of its own to offer in discovery, and a row that
    merely repeats another model's answers is no competitor.
    """

    def recommend(self, customer: int | None, *, mode: str = ..., limit: int = ...,
                  location: int | None = ..., available: Callable | None = ...,
                  now=...) -> list[Recommendation]: ...


# --- split and ground truth -------------------------------------------------------------


def split_by_time(history: pd.DataFrame, cutoff, horizon_days: float | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``history`` into what happened before ``cutoff`` and what happened from it on.

    Parameters
    ----------
    history : pandas.DataFrame
        The history frame of :mod:`promo.ml.frames`.
    cutoff : str, datetime or numpy.datetime64
        The first instant of the test period.
    horizon_days : float, optional
        How long the test period lasts; default: to the end of ``history``.

    Returns
    -------
    train, test : pandas.DataFrame
        ``occurred_at < cutoff`` and ``cutoff <= occurred_at < cutoff + horizon``.
    """
    check_columns("history", history)
    times = history["occurred_at"]
    before = (times < pd.Timestamp(cutoff)).to_numpy()
    after = ~before
    if horizon_days is not None:
        after &= (times < pd.Timestamp(cutoff) + pd.Timedelta(days=horizon_days)).to_numpy()
    return history[before], history[after]


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


@dataclasses.dataclass(frozen=True)
class Serving:
    """Where each customer is served and what is on the shelf there, as production does.

    ``stores`` maps a customer to their usual store (where they bought most often before
    the cut-off); ``stock`` maps a store to the sorted products it had on the shelf. The
    demo's stock view is made the same way (products sold at the store in the last 13
    weeks), so the offline figure is the figure of the served list.
    """

    stores: Mapping[int, int]
    stock: Mapping[int, np.ndarray]

    def location(self, customer: int) -> int | None:
        return self.stores.get(customer)

    def available(self, location: int | None) -> Callable[[np.ndarray], np.ndarray] | None:
        if location is None:
            return None
        shelf = self.stock.get(location, np.empty(0, np.int64))

        def in_stock(products: np.ndarray) -> np.ndarray:
            products = np.asarray(products, dtype=np.int64)
            at = np.searchsorted(shelf, products).clip(max=max(len(shelf) - 1, 0))
            return (shelf[at] == products) if len(shelf) else np.zeros(len(products), bool)
        return in_stock


def serving_at(train: pd.DataFrame, stock_weeks: float = STOCK_WEEKS) -> Serving:
    """The :class:`Serving` of ``train``'s customers at the end of ``train``."""
    purchases = train[(train["type"] == PURCHASE) & (train["location"] != NO_LOCATION)]
    visits = purchases.groupby(["customer", "location"]).size().reset_index(name="n")
    usual = visits.sort_values(["customer", "n", "location"], ascending=[True, False, True]) \
        .drop_duplicates("customer")
    stores = dict(zip(usual["customer"].to_numpy(np.int64).tolist(),
                      usual["location"].to_numpy(np.int64).tolist()))
    recent = purchases[purchases["occurred_at"]
                       >= purchases["occurred_at"].max() - pd.Timedelta(weeks=stock_weeks)]
    stock = {int(location): np.unique(group.to_numpy(np.int64))
             for location, group in recent.groupby("location")["product"]}
    return Serving(stores, stock)


def judge_recommenders(train: pd.DataFrame, test: pd.DataFrame,
                       models: Mapping[str, ProductRecommender], k: int = 10,
                       serving: Serving | None = None, now=None,
                       progress: Callable[[Iterable], Iterable] | None = None) -> pd.DataFrame:
    """Every judged customer's metrics, per (mode, model): the rows behind the means.

    Parameters
    ----------
    train, test : pandas.DataFrame
        History frames, typically from :func:`split_by_time`; the models must have been
        fitted on ``train``.
    models : mapping of str to fitted recommender
        Each answers ``recommend(customer, mode=mode, limit=k, ...)`` with recommendations
        (objects with a ``product``) or plain product ids, in the modes of its ``modes``.
    k : int, default=10
    serving : Serving, optional
        When given, every model is asked at the customer's usual store with its in-stock
        filter, as the service asks.
    now : timestamp, optional
        Passed to the models as the time of the request (default: theirs).
    progress : callable, optional
        Wraps the iterable of customers of each (mode, model), e.g. ``tqdm.tqdm``.

    Returns
    -------
    pandas.DataFrame
        Columns mode, model, customer and one per metric of :data:`METRICS`.
    """
    relevant = relevant_products(train, test)
    frames = []
    for mode in MODES:
        customers = list(relevant[mode].items())
        for name, model in models.items():
            if mode not in getattr(model, "modes", MODES):
                continue
            scores = np.zeros((len(customers), len(METRICS)))
            judged = customers if progress is None else progress(customers)
            for row, (customer, products) in enumerate(judged):
                options: dict = {"mode": mode, "limit": k}
                if serving is not None:
                    location = serving.location(customer)
                    options.update(location=location, available=serving.available(location))
                if now is not None:
                    options["now"] = now
                recommended = [getattr(item, "product", item)
                               for item in model.recommend(customer, **options)]
                scores[row] = [score(recommended, products, k) for score in METRICS.values()]
            frame = pd.DataFrame(scores, columns=list(METRICS))
            frame.insert(0, "customer", np.array([c for c, _ in customers], dtype=np.int64))
            frame.insert(0, "model", name)
            frame.insert(0, "mode", mode)
            frames.append(frame)
    columns = ["mode", "model", "customer", *METRICS]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def evaluate_recommenders(train: pd.DataFrame, test: pd.DataFrame,
                          models: Mapping[str, ProductRecommender], k: int = 10,
                          progress: Callable[[Iterable], Iterable] | None = None,
                          serving: Serving | None = None, now=None) -> pd.DataFrame:
    """Score fitted models on what the customers of ``train`` bought in ``test``.

    The means of :func:`judge_recommenders`: one row per (mode, model) with columns mode,
    model, users (customers judged), hit_rate, recall and ndcg.
    """
    rows = judge_recommenders(train, test, models, k=k, serving=serving, now=now,
                              progress=progress)
    table = rows.groupby(["mode", "model"], sort=False).agg(
        users=("customer", "size"), **{metric: (metric, "mean") for metric in METRICS})
    return table.reset_index()[["mode", "model", "users", *METRICS]]


def compare_recommenders(history: pd.DataFrame, cutoff, models: Mapping | None = None,
                         k: int = 10, products: pd.DataFrame | None = None,
                         progress: Callable[[Iterable], Iterable] | None = None,
                         horizon_days: float | None = None, served: bool = False) -> pd.DataFrame:
    """Fit each model on the history before ``cutoff`` and judge it on the rest.

    Parameters
    ----------
    history : pandas.DataFrame
        The whole history frame.
    cutoff : str, datetime or numpy.datetime64
        Where training ends and testing starts (see :func:`split_by_time`).
    models : mapping of str to unfitted estimator, optional
        Defaults to :class:`~promo.ml.recommender.Recommender` and the baselines
        (the ALS one needs implicit).
    k, progress
        As for :func:`evaluate_recommenders`.
    products : pandas.DataFrame, optional
        Passed to every ``fit``.
    horizon_days : float, optional
        How long after ``cutoff`` purchases are judged (default: to the end).
    served : bool, default=False
        Ask at each customer's usual store with its in-stock filter (:func:`serving_at`).

    Returns
    -------
    pandas.DataFrame
        The :func:`evaluate_recommenders` table plus each model's fit_seconds.
    """
    if models is None:
        from promo.ml.baselines import default_baselines

        models = {"recommender": Recommender(), **default_baselines(als=True)}
    train, test = split_by_time(history, cutoff, horizon_days)
    fitted, seconds = {}, {}
    for name, model in models.items():
        started = time.perf_counter()
        fitted[name] = model.fit(train, products)
        seconds[name] = time.perf_counter() - started
    serving = serving_at(train) if served else None
    table = evaluate_recommenders(train, test, fitted, k=k, progress=progress, serving=serving,
                                  now=pd.Timestamp(cutoff) if served else None)
    return table.assign(fit_seconds=table["model"].map(seconds))
