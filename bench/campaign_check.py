"""Benchmark: the stock check of a large campaign (POST /v1/campaigns/{id}/check, in-process).

    .venv/bin/python bench/campaign_check.py                 # loads the demo and trains into a temp dir first
    .venv/bin/python bench/campaign_check.py --url sqlite:///var/promo.db --model-dir models

A draft campaign of --skus products (the best sellers), for everyone (or --targeting
profile: loyal or lapsing customers with at least 4 visits), on the store
channel (so every demo store: 457), is checked --runs times after one warm-up call:

  check      the whole use case: audience after holdout, expected redemptions from the
             response model, expected units per sku and store, set against the live stock
             view. Goal: p99 under 200 ms for 1,000 skus across all demo stores.
  audience   its first part alone (targeting, the model's ranking, the holdout).
  cover      its stock part alone (demand shares and the products x stores availability).
  baseline   the same availability read the way the stock API reads one product's stock
             (StockView.positions_of_products), measured in the same run.
"""
from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PROMO = str(Path(sys.executable).parent / "promo")
CHECK_P99_GOAL_MS = 200.0


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(args: list[str], url: str, model_dir: str) -> None:
    env = {"PROMO_DATABASE_URL": url, "PROMO_MODEL_DIR": model_dir, "PROMO_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    subprocess.run([PROMO, *args], check=True, env=env, cwd=ROOT)


def timed(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    values = np.asarray(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


TARGETING = {"everyone": {"type": "everyone"},
             "profile": {"type": "profile", "segments": ["loyal", "lapsing"], "min_visits": 4}}


def bench(url: str, model_dir: str, skus: int, runs: int, targeting: str = "everyone") -> list[str]:
    from sqlalchemy import func, select, text

    from promo.adapters.orm import Interaction, Product
    from promo.bootstrap import bootstrap
    from promo.config import load_settings
    from promo.services import campaign_audience, campaign_check, campaigns
    from promo.services.model_server import RESPONSE

    runtime = bootstrap(load_settings({"database_url": url, "model_dir": model_dir, "log_level": "WARNING",
                                       "campaign_watch_interval_ms": 3_600_000}), follow_stock=True)
    try:
        deadline = time.monotonic() + 120
        while runtime.stock.view.as_of_seq == 0 or runtime.models.get(RESPONSE) is None:
            if time.monotonic() > deadline:
                raise SystemExit("the stock view or the response model did not load; run `promo train` first")
            time.sleep(0.2)
        with runtime.unit_of_work() as uow:
            best = uow.session.execute(select(Interaction.product_id).group_by(Interaction.product_id)
                                       .order_by(func.count().desc()).limit(skus)).scalars().all()
            skus_wanted = sorted(uow.session.scalars(select(Product.sku).where(Product.id.in_(best))))
        now = dt.datetime.now(dt.timezone.utc)
        code = campaigns.create_campaign(runtime.unit_of_work(write=True), {
            "name": "bench: best sellers", "starts_at": now, "ends_at": now + dt.timedelta(days=7),
            "channels": ["store"], "products": {"skus": skus_wanted},
            "discount": {"type": "percent", "value": 10}, "holdout_percent": 10,
            "targeting": TARGETING[targeting]}, actor="bench")["id"]
        with runtime.unit_of_work() as uow:
            campaign = uow.campaigns.get(code)
            product_ids = uow.campaigns.product_ids(campaign.id)
            uow.session.expunge(campaign)
        locations = campaign_check.campaign_locations(runtime, campaign)
        log(f"campaign {code}: {len(product_ids)} skus x {len(locations)} stores")
        report = campaign_check.run_check(runtime, code).report  # warm-up: builds the per-process caches

        def audience() -> Any:
            with runtime.unit_of_work() as uow:
                return campaign_audience.resolve(runtime, uow, campaign, product_ids)

        def baseline() -> Any:
            return runtime.stock.view.positions_of_products(product_ids)

        figures = {
            "check": timed(lambda: campaign_check.run_check(runtime, code), runs),
            "audience": timed(audience, runs),
            "cover": timed(lambda: campaign_check.cover(runtime, campaign, product_ids, locations, 100.0, now), runs),
            "baseline": timed(baseline, runs),
        }
        with runtime.unit_of_work(write=True) as uow:  # leave the database as it was
            for table in ("campaign_events", "campaign_products"):
                uow.session.execute(text(f"DELETE FROM {table} WHERE campaign_id = "
                                         "(SELECT id FROM campaigns WHERE code = :c)"), {"c": code})
            uow.session.execute(text("DELETE FROM campaigns WHERE code = :c"), {"c": code})
            uow.commit()
    finally:
        runtime.close()
    check_p99 = figures["check"][1]
    lines = [f"campaign check ({targeting}): {len(product_ids)} skus x {len(locations)} stores = "
             f"{len(product_ids) * len(locations):,} pairs; audience {report['audience']['eligible']:,} "
             f"({report['audience']['treated']:,} treated), verdict {report['verdict']}, counts {report['counts']}"]
    for name, (p50, p99) in figures.items():
        lines.append(f"  {name:<9} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms")
    lines.append(f"  cover / baseline (p50): {figures['cover'][0] / figures['baseline'][0]:.2f}x")
    lines.append(f"  goal: check p99 < {CHECK_P99_GOAL_MS:.0f} ms: {'met' if check_p99 < CHECK_P99_GOAL_MS else 'MISSED'} "
                 f"({check_p99:.1f} ms)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a database holding the demo data (default: load it into a temp SQLite)")
    parser.add_argument("--model-dir", default="models", help="trained models of that database")
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--targeting", choices=sorted(TARGETING), default="everyone",
                        help="everyone, or profile: loyal or lapsing customers with 4+ visits")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, model_dir = args.url, args.model_dir
        if not url:
            url, model_dir = f"sqlite:///{tmp}/bench.db", f"{tmp}/models"
            log("loading the demo and training into a temp directory (a few minutes)")
            run(["db", "upgrade"], url, model_dir)
            run(["demo", "load", "--quiet"], url, model_dir)
            run(["train"], url, model_dir)
        print("\n".join(bench(url, model_dir, args.skus, args.runs, args.targeting)))


if __name__ == "__main__":
    main()
