"""Benchmark: ranking the whole demo base for a new promotion (issue #12).

    .venv/bin/python bench/audience_scoring.py          # loads the demo into a temp SQLite and trains first
    .venv/bin/python bench/audience_scoring.py --url sqlite:///var/promo.db --model-dir models
    .venv/bin/python bench/audience_scoring.py --calls 50 --sizes 50,1000

With --url, the SQLite file is copied to a temporary directory first (the bench writes
interactions). Every figure is in-process (no HTTP), with the demo's active response
model, for promotions of --sizes random bought skus and a random campaign type:

  scratch   the old path, measured in the same run: read the whole history, customers,
            products and campaign tables, promotion_features for every buyer, predict
            (what POST /v1/audiences/score did on every call). Baseline.
  cold      the first AudienceScorer.rank of a process: builds the state from the database.
  warm      AudienceScorer.rank, state already built, nothing new to read (p50/p99 over
            --calls promotions). Goal: whole base under 300 ms.
  update    AudienceScorer.rank right after --new-purchases purchases by 20 customers
            were recorded (through the service, so with profile refreshes): the delta
            rebuild for those customers plus the ranking.
  memory    in fresh child processes (app runtime, models loaded): RSS before and after
            5 whole-base rankings by each path, after garbage collection. The old path's
            residue is what the issue reports (~180-280 MB per worker).
Also: the state's array bytes, and a check that both paths rank the same customers with
the same probabilities.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PROMO = str(Path(sys.executable).parent / "promo")
GOAL_MS = 300.0


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024
    return float("nan")


def run(args: list[str], url: str, model_dir: str) -> None:
    env = {"PROMO_DATABASE_URL": url, "PROMO_MODEL_DIR": model_dir, "PROMO_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    subprocess.run([PROMO, *args], check=True, env=env, cwd=ROOT)


def from_scratch(runtime: Any, product_ids: Sequence[int], campaign_type: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The old score_audience for every buyer: (internal ids best first, probabilities)."""
    from promo.adapters import training_data
    from promo.ml.response_features import promotion_features
    from promo.services.audience_scoring import campaign_types_of
    from promo.services.model_server import RESPONSE

    model = runtime.models.get(RESPONSE).estimator
    with runtime.unit_of_work() as uow:
        session = uow.session
        history = training_data.read_history(session)
        ids = np.asarray(sorted(set(history.loc[history["type"] == "purchase", "customer"].tolist())), dtype=np.int64)
        opted_out = uow.customers.opted_out(ids.tolist())
        ids = ids[~np.isin(ids, list(opted_out))]
        campaign = training_data.read_campaign_history(session)
        people = training_data.read_customers(session)
        products = training_data.read_products(session)
        present = uow.profiles.clock()
    starts_at = pd.Timestamp(present.astimezone(dt.timezone.utc).replace(tzinfo=None)) + pd.Timedelta(microseconds=1)
    X = promotion_features(history, products, people, promoted_products=list(product_ids), starts_at=starts_at,
                           customer_ids=ids, campaign_type=campaign_type,
                           campaign_types=campaign_types_of(model.feature_names_),
                           redemptions=campaign["redemptions"], exposures=campaign["exposures"],
                           campaigns=campaign["campaigns"])
    probability = model.predict_proba(X)[:, 1]
    uplift = model.predict_uplift(X) if model.has_uplift_ else None
    order = np.argsort(-(uplift if uplift is not None else probability), kind="stable")
    return ids[order], probability[order]


def memory_child(url: str, model_dir: str, path: str, seed: int) -> None:
    """Run in a fresh process: print RSS before and after 5 whole-base rankings by ``path``."""
    from promo.bootstrap import bootstrap
    from promo.config import load_settings
    from promo.services.audience_scoring import campaign_types_of
    from promo.services.model_server import RESPONSE

    runtime = bootstrap(load_settings({"database_url": url, "model_dir": model_dir, "log_level": "WARNING"}))
    runtime.models.refresh()
    import sklearn  # noqa: F401  (imported by both paths: count it in the before)
    with runtime.engine.connect() as connection:
        bought = [row[0] for row in connection.exec_driver_sql(
            "SELECT DISTINCT product_id FROM interactions WHERE type = 'purchase'")]
    types = campaign_types_of(runtime.models.get(RESPONSE).estimator.feature_names_)
    rng = random.Random(seed)
    gc.collect()
    before = rss_mb()
    for _ in range(5):
        products, kind = rng.sample(bought, 1000), rng.choice(types)
        if path == "new":
            runtime.audience_scorer.rank(products, campaign_type=kind)
        else:
            from_scratch(runtime, products, kind)
    gc.collect()
    print(f"{before:.0f} {rss_mb():.0f}")


def bench_memory(url: str, model_dir: str, seed: int) -> list[str]:
    lines = ["", "| path (fresh process, 5 whole-base rankings of 1000 skus) | RSS before | after | kept |",
             "|---|---|---|---|"]
    for path, label in (("old", "scratch (old path)"), ("new", "AudienceScorer")):
        out = subprocess.run([sys.executable, __file__, "--memory-child", path, "--url", url, "--model-dir",
                              model_dir, "--seed", str(seed)], check=True, capture_output=True, text=True).stdout
        before, after = (float(x) for x in out.split()[-2:])
        lines.append(f"| {label} | {before:.0f} MB | {after:.0f} MB | **+{after - before:.0f} MB** |")
        log(lines[-1])
    return lines


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def bench(url: str, model_dir: str, sizes: list[int], calls: int, scratch_calls: int, new_purchases: int,
          seed: int) -> list[str]:
    from promo.bootstrap import bootstrap
    from promo.config import load_settings
    from promo.services import interactions
    from promo.services.audience_scoring import campaign_types_of
    from promo.services.model_server import RESPONSE

    rng = random.Random(seed)
    runtime = bootstrap(load_settings({"database_url": url, "model_dir": model_dir, "log_level": "WARNING"}))
    runtime.models.refresh()
    served = runtime.models.get(RESPONSE)
    if served is None:
        raise SystemExit("no active response model: run `promo train` on this database first")
    types = campaign_types_of(served.estimator.feature_names_)
    with runtime.engine.connect() as connection:
        bought = [row[0] for row in connection.exec_driver_sql(
            "SELECT DISTINCT product_id FROM interactions WHERE type = 'purchase'")]
        sku_of = dict(connection.exec_driver_sql("SELECT id, sku FROM products").fetchall())
        customers = [row[0] for row in connection.exec_driver_sql(
            "SELECT external_id FROM customers ORDER BY id LIMIT 200")]
        latest = connection.exec_driver_sql("SELECT MAX(occurred_at) FROM interactions").scalar()

    def promotion(size: int) -> tuple[list[int], str | None]:
        return rng.sample(bought, size), rng.choice(types) if types else None

    lines = [f"database: {url.split('///')[-1]}, model {served.version}, {len(bought):,} products bought",
             "", "| path | skus | calls | p50 ms | p99 ms | vs scratch (p50) |", "|---|---|---|---|---|---|"]
    scratch_p50: dict[int, float] = {}
    for size in sizes:
        samples = []
        for _ in range(scratch_calls):
            products, kind = promotion(size)
            gc.collect()
            started = time.perf_counter()
            from_scratch(runtime, products, kind)
            samples.append(time.perf_counter() - started)
        scratch_p50[size] = percentiles(samples)[0]
        log(f"scratch {size} skus: {scratch_p50[size]:.0f} ms")
        lines.append(f"| scratch (old path, baseline) | {size} | {scratch_calls} | {scratch_p50[size]:.0f} | "
                     f"{percentiles(samples)[1]:.0f} | 1x |")

    scorer = runtime.audience_scorer
    products, kind = promotion(sizes[0])
    started = time.perf_counter()
    first = scorer.rank(products, campaign_type=kind)
    cold = time.perf_counter() - started
    log(f"cold build + first ranking: {cold * 1000:.0f} ms, {len(first.customer_ids):,} customers")
    lines.append(f"| cold (build + first rank) | {sizes[0]} | 1 | {cold * 1000:.0f} | | "
                 f"{scratch_p50[sizes[0]] / (cold * 1000):.1f}x faster |")

    for size in sizes:
        samples = []
        for _ in range(calls):
            products, kind = promotion(size)
            started = time.perf_counter()
            scorer.rank(products, campaign_type=kind)
            samples.append(time.perf_counter() - started)
        p50, p99 = percentiles(samples)
        verdict = "meets" if p99 < GOAL_MS else "misses"
        lines.append(f"| warm | {size} | {calls} | {p50:.1f} | {p99:.1f} | {scratch_p50[size] / p50:.0f}x faster "
                     f"({verdict} the {GOAL_MS:.0f} ms goal at p99) |")

    samples = []
    when = (dt.datetime.fromisoformat(str(latest)) if isinstance(latest, str) else latest).replace(
        tzinfo=dt.timezone.utc)
    for round_ in range(5):
        events = [{"event_id": f"bench-{seed}-{round_}-{n}", "customer": rng.choice(customers),
                   "sku": sku_of[rng.choice(bought)], "type": "purchase", "quantity": 1, "value": 2.5,
                   "coupon_discount": 0.5 if n % 3 == 0 else 0.0, "channel": "store",
                   "occurred_at": when + dt.timedelta(minutes=round_ * 100 + n)} for n in range(new_purchases)]
        interactions.record_interactions(runtime.unit_of_work(write=True), events)
        products, kind = promotion(sizes[-1])
        started = time.perf_counter()
        scorer.rank(products, campaign_type=kind)
        samples.append(time.perf_counter() - started)
    p50, p99 = percentiles(samples)
    dirty = int(scorer._state.purchases.dirty.sum())
    lines.append(f"| update ({new_purchases} new purchases, then rank) | {sizes[-1]} | 5 | {p50:.1f} | {p99:.1f} | "
                 f"{scratch_p50[sizes[-1]] / p50:.0f}x faster ({dirty} customers in the delta after 5 rounds) |")

    products, kind = promotion(sizes[-1])
    new = scorer.rank(products, campaign_type=kind)
    old_ids, old_probability = from_scratch(runtime, products, kind)
    same_order = bool(np.array_equal(new.customer_ids, old_ids))
    gap = float(np.max(np.abs(new.probability - old_probability))) if len(old_ids) else 0.0
    lines += ["", f"customers ranked: {len(new.customer_ids):,}; same order as the old path: {same_order}; "
              f"largest probability difference: {gap:.2e}",
              f"state arrays: {scorer.nbytes / 1024 ** 2:.0f} MB"]
    runtime.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a SQLite database holding the demo (copied first; default: load it)")
    parser.add_argument("--model-dir", help="its models directory (with --url)")
    parser.add_argument("--sizes", default="50,1000", help="promotion sizes, in skus")
    parser.add_argument("--calls", type=int, default=40, help="warm calls per size")
    parser.add_argument("--scratch-calls", type=int, default=3, help="old-path calls per size")
    parser.add_argument("--new-purchases", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-child", choices=("old", "new"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.url, args.model_dir, args.memory_child, args.seed)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        url, model_dir = f"sqlite:///{tmp}/bench.db", f"{tmp}/models"
        if args.url:
            if not args.url.startswith("sqlite:///") or not args.model_dir:
                raise SystemExit("--url must be a SQLite URL, with --model-dir")
            log("copying the database")
            shutil.copy(args.url[len("sqlite:///"):], f"{tmp}/bench.db")
            shutil.copytree(args.model_dir, model_dir)
        else:
            log("loading the demo into a fresh SQLite database and training (a few minutes)")
            run(["db", "upgrade"], url, model_dir)
            run(["demo", "load", "--quiet"], url, model_dir)
            run(["train", "--quiet"], url, model_dir)
        lines = bench(url, model_dir, sizes, args.calls, args.scratch_calls, args.new_purchases, args.seed)
        lines += bench_memory(url, model_dir, args.seed)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
