"""The grids behind the models' defaults, each judged as `promo evaluate` judges, on
cut-offs or campaigns *before* the ones the documented evaluation reports.

    .venv/bin/python bench/tuning.py ranker   --url sqlite:///var/promo.db   # repeat ranker
    .venv/bin/python bench/tuning.py response --url sqlite:///var/promo.db   # response model
    .venv/bin/python bench/tuning.py als      --url sqlite:///var/promo.db   # the ALS baseline

ranker
    Recommender repeat_objective, repeat_weeks, repeat_C and repeat_negatives around the
    defaults (with --categories: repeat_category_penalty instead), fitted at four weekly
    cut-offs ending four weeks before the evaluation's first (so the evaluation weeks
    are never looked at), served at the usual store in stock; mean repeat recall@10,
    beside buy-again by recency with its own tuned half-life.
response
    ResponseModel C x calibration_share, every campaign with enough redeemers that
    started before --response-before held out in turn; mean ROC-AUC and expected
    against actual redemptions.
als
    ALSBaseline factors x regularization x alpha (and BM25 K1), fitted before
    2017-10-01 and judged on October (unserved, to the end of the month), as its
    defaults were chosen.

Every line prints as it is measured; the best setting is printed last.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    print(message, flush=True)


def frames(url: str):
    from promo.bootstrap import bootstrap
    from promo.config import load_settings
    from promo.services.training import load_training_data

    runtime = bootstrap(load_settings({"database_url": url, "log_level": "WARNING"}))
    try:
        return load_training_data(runtime)
    finally:
        runtime.close()


def tune_ranker(data, weeks_before: int, categories: bool = False) -> None:
    from promo.ml.baselines import BuyAgainRecencyBaseline
    from promo.ml.multi_cutoff import compare_over_cutoffs, weekly_cutoffs

    evaluated = weekly_cutoffs(data.history)
    cutoffs = [cutoff - pd.Timedelta(weeks=weeks_before) for cutoff in evaluated]
    log(f"ranker: cut-offs {[str(c.date()) for c in cutoffs]} (the evaluation's are {[str(c.date()) for c in evaluated]})")
    if categories:
        tune_category_penalty(data, cutoffs)
        return
    # (objective, weeks, C, negatives); the logistic rows are the previous default's family.
    grid = [("softmax", 2, 1.0, 1.0), ("softmax", 4, 1.0, 1.0), ("softmax", 2, 0.1, 1.0),
            ("softmax", 2, 10.0, 1.0), ("softmax", 2, 1.0, 0.3), ("logistic", 2, 1.0, 0.3),
            ("logistic", 2, 1.0, 1.0)]
    results = {}
    for objective, weeks, C, negatives in grid:
        name = f"objective={objective} weeks={weeks} C={C} negatives={negatives}"
        results[(objective, weeks, C, negatives)] = ranker_recall(
            data, cutoffs, name, repeat_objective=objective, repeat_weeks=weeks, repeat_C=C,
            repeat_negatives=negatives)
    baseline = compare_over_cutoffs(data.history, cutoffs, lambda: {"recency": BuyAgainRecencyBaseline()},
                                    products=data.products).table("recency")
    log(f"ranker: buy_again_recency: repeat recall@10 {baseline.loc[0, 'recall']:.4f}")
    # Differences under 0.001 are below what four cut-offs can tell apart: among the
    # settings that close to the best, the cheapest to fit (fewest weeks), then the defaults.
    top = max(results.values())
    near = [key for key, recall in results.items() if recall >= top - 0.001]
    best = min(near, key=lambda key: (key[1], key[0] != "softmax", abs(key[2] - 1.0), abs(key[3] - 1.0)))
    log(f"ranker: best objective={best[0]} weeks={best[1]} C={best[2]} negatives={best[3]}: {results[best]:.4f}")


def ranker_recall(data, cutoffs, name: str, **params) -> float:
    """Mean repeat recall@10 over ``cutoffs`` of a Recommender with ``params``, logged."""
    from promo.ml.multi_cutoff import compare_over_cutoffs
    from promo.ml.recommender import Recommender

    started = time.perf_counter()
    comparison = compare_over_cutoffs(data.history, cutoffs, lambda: {"ours": Recommender(**params)},
                                      products=data.products)
    recall = comparison.table("ours").set_index(["mode", "model"]).loc[("repeat", "ours"), "recall"]
    log(f"ranker: {name}: repeat recall@10 {recall:.4f} ({time.perf_counter() - started:.0f} s)")
    return recall


def tune_category_penalty(data, cutoffs) -> None:
    """The ranker's per-category adjustments: none (the shared coefficients alone) against
    a few penalties, the other parameters at their defaults."""
    from promo.ml.baselines import BuyAgainRecencyBaseline
    from promo.ml.multi_cutoff import compare_over_cutoffs

    results = {penalty: ranker_recall(data, cutoffs, f"category_penalty={penalty}",
                                      repeat_category_penalty=penalty)
               for penalty in (None, 100.0, 300.0, 1000.0)}
    baseline = compare_over_cutoffs(data.history, cutoffs, lambda: {"recency": BuyAgainRecencyBaseline()},
                                    products=data.products).table("recency")
    log(f"ranker: buy_again_recency: repeat recall@10 {baseline.loc[0, 'recall']:.4f}")
    best = max(results, key=results.get)
    log(f"ranker: best category_penalty={best}: {results[best]:.4f} "
        f"({results[best] - results[None]:+.4f} over none)")


def tune_response(data, before: str) -> None:
    from promo.ml.response import ResponseModel
    from promo.ml.response_evaluation import evaluate_response, judged_campaigns

    history = data.history
    _, held_out = judged_campaigns(data.campaigns, data.exposures, data.redemptions, history)
    starts = data.campaigns.set_index("campaign")["starts_at"]
    chosen = [c for c in held_out if starts[c] < pd.Timestamp(before)]
    log(f"response: {len(chosen)} campaigns held out, starting before {before}")
    results = {}
    for C, share in itertools.product((0.003, 0.01, 0.03, 0.1), (0.0, 0.2, 0.35, 0.5)):
        evaluation = evaluate_response(
            history, data.products, data.customers, data.campaigns, data.campaign_products, data.exposures,
            data.redemptions, model=ResponseModel(C=C, calibration_share=share))
        table = evaluation.campaigns[evaluation.campaigns["campaign"].isin(chosen)]
        auc = table["model"].mean()
        error = table["expected"].sum() / table["redeemers"].sum() - 1
        results[(C, share)] = (auc, error)
        log(f"response: C={C} calibration_share={share}: mean ROC-AUC {auc:.4f}, expected {error:+.1%}")
    # Ranking first, calibration next: among the settings within 0.002 ROC-AUC of the best
    # (closer than the held-out campaigns can tell apart), the best calibrated.
    top = max(auc for auc, _ in results.values())
    near = [key for key, (auc, _) in results.items() if auc >= top - 0.002]
    best = min(near, key=lambda key: abs(results[key][1]))
    log(f"response: best C={best[0]} calibration_share={best[1]}: {results[best][0]:.4f}, {results[best][1]:+.1%}")


def tune_als(data) -> None:
    from promo.ml.baselines import ALSBaseline
    from promo.ml.ranking import compare_recommenders

    results = {}
    for factors, regularization, alpha, k1 in itertools.product((32, 64, 128), (1.0, 30.0, 100.0), (0.25, 1.0),
                                                               (100.0,)):
        name = f"factors={factors} regularization={regularization} alpha={alpha} K1={k1}"
        table = compare_recommenders(data.history, "2017-10-01", {
            "als": ALSBaseline(factors=factors, regularization=regularization, alpha=alpha, bm25_k1=k1)},
            horizon_days=31)
        recall = table.set_index("mode").loc["discovery", "recall"]
        results[name] = recall
        log(f"als: {name}: discovery recall@10 {recall:.4f}")
    best = max(results, key=results.get)
    log(f"als: best {best}: {results[best]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grid", choices=("ranker", "response", "als"))
    parser.add_argument("--url", default=f"sqlite:///{ROOT}/var/promo.db")
    parser.add_argument("--weeks-before", type=int, default=4,
                        help="ranker: how many weeks before the evaluation's cut-offs the tuning ones are")
    parser.add_argument("--categories", action="store_true",
                        help="ranker: tune repeat_category_penalty (None: no per-category adjustments)")
    parser.add_argument("--response-before", default="2017-09-01",
                        help="response: judge only held-out campaigns starting before this date")
    args = parser.parse_args()
    data = frames(args.url)
    if args.grid == "ranker":
        tune_ranker(data, args.weeks_before, args.categories)
    elif args.grid == "response":
        tune_response(data, args.response_before)
    else:
        tune_als(data)


if __name__ == "__main__":
    main()
