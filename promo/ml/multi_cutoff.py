"""Recommenders judged over several weekly cut-offs, served as production serves them.

At each cut-off every model is fitted on the history before it and asked, for every
customer of that history who then bought something relevant within the horizon, for
``k`` products at the customer's usual store with that store's in-stock filter
(:func:`promo.ml.ranking.serving_at`). The table reports each model's mean over the
cut-offs and, for ours, the difference to the best baseline of each (mode, metric) with
a 95% bootstrap interval (:func:`promo.ml.bootstrap.cutoff_difference`).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from promo.ml.bootstrap import Interval, cutoff_difference
from promo.ml.frames import check_columns
from promo.ml.ranking import METRICS, judge_recommenders, serving_at, split_by_time

HORIZON_DAYS = 7.0


def weekly_cutoffs(history: pd.DataFrame, count: int = 4,
                   horizon_days: float = HORIZON_DAYS) -> list[pd.Timestamp]:
    """``count`` cut-offs a week apart, the last leaving a whole horizon after it.

    The last is the midnight at least ``horizon_days`` before the end of ``history``.
    """
    check_columns("history", history)
    end = history["occurred_at"].max()
    last = (end - pd.Timedelta(days=horizon_days)).floor("D")
    if last + pd.Timedelta(days=horizon_days) > end:
        last -= pd.Timedelta(days=1)
    return [last - pd.Timedelta(weeks=week) for week in reversed(range(count))]


@dataclasses.dataclass(frozen=True)
class CutoffComparison:
    """Per-customer metrics of every model at every cut-off, and the fit times."""

    rows: pd.DataFrame           # cutoff, mode, model, customer, hit_rate, recall, ndcg
    fit_seconds: pd.DataFrame    # cutoff, model, seconds
    cutoffs: list[pd.Timestamp]
    horizon_days: float
    k: int

    def table(self, ours: str) -> pd.DataFrame:
        """One row per (mode, model): customers judged (summed over cut-offs), the mean
        over cut-offs of each metric, and the mean fit time."""
        per_cutoff = self.rows.groupby(["mode", "model", "cutoff"], sort=False).agg(
            users=("customer", "size"), **{metric: (metric, "mean") for metric in METRICS})
        table = per_cutoff.groupby(level=["mode", "model"], sort=False).agg(
            users=("users", "sum"), **{metric: (metric, "mean") for metric in METRICS})
        seconds = self.fit_seconds.groupby("model")["seconds"].mean()
        table = table.reset_index()
        table["fit_seconds"] = table["model"].map(seconds)
        order = {name: position for position, name in enumerate(
            [ours] + [m for m in self.fit_seconds["model"].unique() if m != ours])}
        modes = {mode: position for position, mode in enumerate(("repeat", "discovery"))}
        return table.sort_values(["mode", "model"], key=lambda column: column.map(
            modes if column.name == "mode" else order)).reset_index(drop=True)

    def best_baselines(self, ours: str) -> dict[tuple[str, str], str]:
        """Per (mode, metric), the baseline with the highest mean over cut-offs."""
        table = self.table(ours)
        best = {}
        for mode, rows in table[table["model"] != ours].groupby("mode", sort=False):
            for metric in METRICS:
                best[(mode, metric)] = str(rows.loc[rows[metric].idxmax(), "model"])
        return best

    def differences(self, ours: str, replicates: int = 1000,
                    seed: int = 0) -> dict[tuple[str, str], tuple[str, Interval]]:
        """Per (mode, metric), the best baseline and ours minus it, with its interval."""
        found = {}
        for (mode, metric), other in self.best_baselines(ours).items():
            rows = self.rows[self.rows["mode"] == mode]
            pair = rows[rows["model"] == ours].merge(
                rows[rows["model"] == other], on=["cutoff", "customer"], suffixes=("", "_other"))
            found[(mode, metric)] = (other, cutoff_difference(
                pair[metric].to_numpy(), pair[f"{metric}_other"].to_numpy(),
                pair["customer"].to_numpy(), pair["cutoff"].to_numpy(), replicates, seed=seed))
        return found


def compare_over_cutoffs(history: pd.DataFrame, cutoffs: Sequence[Any],
                         make_models: Callable[[], Mapping[str, Any]], *, k: int = 10,
                         horizon_days: float = HORIZON_DAYS,
                         products: pd.DataFrame | None = None,
                         progress: Callable[[Iterable], Iterable] | None = None,
                         say: Callable[[str], None] = lambda _message: None) -> CutoffComparison:
    """Fit fresh models at every cut-off and judge them served (usual store, in stock).

    Parameters
    ----------
    history : pandas.DataFrame
        The whole history frame.
    cutoffs : sequence of timestamps
        Naive UTC, in the history's own time.
    make_models : callable
        Returns a fresh mapping of name to unfitted model (called once per cut-off).
    k, horizon_days, products, progress
        Recommendations judged; the days after each cut-off whose purchases are the
        truth; passed to every ``fit``; wraps the customers of each (mode, model).
    """
    frames, seconds = [], []
    cutoffs = [pd.Timestamp(cutoff) for cutoff in cutoffs]
    for cutoff in cutoffs:
        train, test = split_by_time(history, cutoff, horizon_days)
        if train.empty or test.empty:
            raise ValueError(f"cut-off {cutoff.date()} leaves nothing to learn from or to judge")
        fitted = {}
        for name, model in make_models().items():
            say(f"cut-off {cutoff.date()}: fitting {name}")
            started = time.perf_counter()
            fitted[name] = model.fit(train, products)
            seconds.append({"cutoff": cutoff, "model": name,
                            "seconds": time.perf_counter() - started})
        say(f"cut-off {cutoff.date()}: judging on the {horizon_days:g} days after it")
        rows = judge_recommenders(train, test, fitted, k=k, serving=serving_at(train),
                                  now=cutoff, progress=progress)
        frames.append(rows.assign(cutoff=cutoff))
    rows = pd.concat(frames, ignore_index=True)
    return CutoffComparison(rows, pd.DataFrame(seconds), cutoffs, horizon_days, k)
