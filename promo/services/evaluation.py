"""`promo evaluate`: our models against the baselines an analyst would try first, on a
time split of the stored history (learn before the cut-off, judge after it)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pandas as pd

from promo.domain.errors import InvalidInput
from promo.services.training import TrainingData, load_training_data

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

OURS = "promo"
RECOMMENDER_METRICS = ("hit_rate", "recall", "ndcg")
RESPONSE_METRICS = ("roc_auc", "pr_auc")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    recommender: pd.DataFrame     # mode, model, users, hit_rate, recall, ndcg, fit_seconds
    response: pd.DataFrame        # scorer, roc_auc, pr_auc, counts
    recommender_cutoff: dt.datetime
    response_cutoff: dt.datetime
    k: int

    def shortfalls(self) -> list[str]:
        """Every line where a baseline matches or beats ours; empty when ours wins all."""
        found = []
        for mode, rows in self.recommender.groupby("mode", sort=False):
            ours = rows[rows["model"] == OURS].iloc[0]
            for _, row in rows[rows["model"] != OURS].iterrows():
                found += [f"{mode} {metric}@{self.k}: {row['model']} {row[metric]:.4f} >= ours {ours[metric]:.4f}"
                          for metric in RECOMMENDER_METRICS if row[metric] >= ours[metric]]
        response = self.response.set_index("scorer")
        for scorer, row in response.drop(index="model").iterrows():
            found += [f"response {metric}: {scorer} {row[metric]:.4f} >= ours {response.loc['model', metric]:.4f}"
                      for metric in RESPONSE_METRICS if row[metric] >= response.loc["model", metric]]
        return found


def _naive(moment: dt.datetime) -> pd.Timestamp:
    return pd.Timestamp(moment.astimezone(dt.timezone.utc).replace(tzinfo=None))


def recommender_models(als: bool) -> dict[str, Any]:
    from promo.ml.ranking import ALSBaseline, OwnFrequencyBaseline, PopularityBaseline
    from promo.ml.recommender import Recommender

    models: dict[str, Any] = {OURS: Recommender(), "popularity": PopularityBaseline(),
                              "own_frequency": OwnFrequencyBaseline()}
    if als:
        models["implicit_als"] = ALSBaseline()
    return models


def evaluate(runtime: "Runtime", *, cutoff: dt.datetime, response_cutoff: dt.datetime, k: int = 10,
             als: bool = True, data: TrainingData | None = None,
             progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
             say: Callable[[str], None] = lambda _message: None) -> Evaluation:
    from promo.ml.ranking import compare_recommenders
    from promo.ml.response_evaluation import evaluate_response, split_campaigns

    if data is None:
        say("reading the history from the database")
        data = load_training_data(runtime)
    learn, judge = split_campaigns(data.campaigns, _naive(response_cutoff))
    if not learn or not judge:
        raise InvalidInput("the response cut-off leaves nothing to learn from or to judge", {"response_cutoff": [
            f"{response_cutoff.date()} leaves {len(learn)} training and {len(judge)} test campaigns"]})
    before = data.history["occurred_at"] < _naive(cutoff)
    if before.all() or not before.any():
        raise InvalidInput("the cut-off leaves nothing to learn from or to judge",
                           {"cutoff": [f"{cutoff.date()} is outside the stored history"]})
    models = recommender_models(als)
    say(f"recommenders: fitting {', '.join(models)} on the history before {cutoff.date()} and judging them after")
    recommender = compare_recommenders(data.history, _naive(cutoff), models, k=k, products=data.products,
                                       progress=progress)
    say(f"response model: campaigns ending before {response_cutoff.date()} against those starting after")
    response = evaluate_response(data.history, data.products, data.customers, data.campaigns,
                                 data.campaign_products, data.exposures, data.redemptions,
                                 cutoff=_naive(response_cutoff))
    return Evaluation(recommender.reset_index(drop=True), response.reset_index(),
                      cutoff, response_cutoff, k)


def as_markdown(evaluation: Evaluation) -> str:
    """Both tables as Markdown, for docs/benchmarks.md."""
    k = evaluation.k
    lines = [f"Recommender, trained before {evaluation.recommender_cutoff.date()}, judged on purchases after it "
             f"(k = {k}):", "",
             f"| mode | model | customers | hit rate@{k} | recall@{k} | NDCG@{k} |", "|---|---|---:|---:|---:|---:|"]
    for _, row in evaluation.recommender.iterrows():
        name = f"**{row['model']}**" if row["model"] == OURS else row["model"]
        lines.append(f"| {row['mode']} | {name} | {row['users']} | {row['hit_rate']:.4f} | {row['recall']:.4f} | "
                     f"{row['ndcg']:.4f} |")
    response = evaluation.response
    first = response.iloc[0]
    lines += ["", f"Redemption-response model, learned from campaigns ending before "
                  f"{evaluation.response_cutoff.date()} ({first['train_campaigns']} campaigns, {first['train_rows']} "
                  f"exposures), judged on the {first['test_campaigns']} campaigns starting after it "
                  f"({first['test_rows']} exposures, {first['test_positives']} redeemed):", "",
              "| scorer | ROC-AUC | PR-AUC |", "|---|---:|---:|"]
    for _, row in response.iterrows():
        name = f"**{OURS}**" if row["scorer"] == "model" else row["scorer"]
        lines.append(f"| {name} | {row['roc_auc']:.4f} | {row['pr_auc']:.4f} |")
    return "\n".join(lines)
