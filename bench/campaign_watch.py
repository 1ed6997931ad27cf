"""Benchmark: the campaign watch's stock pass (watch_stock) while stock events stream in.

    .venv/bin/python bench/campaign_watch.py                 # the demo of `make run` (var/promo.db), copied
    .venv/bin/python bench/campaign_watch.py --url sqlite:////tmp/demo/promo.db --model-dir /tmp/demo/models
    .venv/bin/python bench/campaign_watch.py --campaigns 50 --ticks 30 --events 30

Every serving process runs the watch once a second (campaign_watch_interval_ms). Its
stock pass judges a running campaign again only when the campaign changed or the stock
of one of its products moved (or every 30 s); before, it judged every running campaign
whenever the stock sequence moved at all, which under a steady stream of stock events is
every tick.

Set-up as bench/offers.py: the demo database is COPIED into a temporary directory (loaded
and trained there if it does not exist), and --campaigns (50) campaigns are created and
activated on products in stock where the demo households buy. Then, in this process, for
--ticks rounds of each scenario, --events stock receipts (1 unit each) are written
through the stock use case and one stock pass is timed twice, in turns:

  kept       the watch as it runs: the judgements of the previous ticks are kept.
  baseline   the same pass judging every running campaign (what it did whenever the
             stock sequence moved), measured in the same run.

Scenarios: `quiet`, no stock event between two passes (what a pass costs when nothing
moved; the watch skipped everything then before too); `catalog`, receipts at random
stocked (product, store) positions of the whole catalog (most products are promoted by
no campaign); and `promoted`, receipts of the campaigns' own products only (the worst
case: most campaigns must be judged again).
Figures: the median and p90 of a pass in ms, the campaigns judged per pass, and the
ratio of the medians (baseline / kept).
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from offers import (  # noqa: E402  (a sibling script: the same set-up as the offers bench)
    BenchError,
    live_campaigns,
    prepare_database,
    setup_runtime,
)
from stock import log, percentile  # noqa: E402  (bench/stock.py)

DEFAULT_URL = f"sqlite:///{Path(__file__).resolve().parent.parent}/var/promo.db"
SCENARIOS = ("quiet", "catalog", "promoted")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="SQLite demo database to copy (default: var/promo.db)")
    parser.add_argument("--model-dir", help="its models (default: models/ beside the project)")
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--pool", type=int, default=400, help="products the campaigns draw from")
    parser.add_argument("--ticks", type=int, default=30, help="timed passes per scenario and kind")
    parser.add_argument("--events", type=int, default=30, help="stock receipts between two passes")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


class Receipts:
    """Stock receipts of one unit at chosen (product id, location id) positions."""

    def __init__(self, runtime: Any, name: str, positions: list[tuple[int, int]], rng: random.Random):
        self._runtime, self._name, self._positions, self._rng = runtime, name, positions, rng
        self._skus = runtime.stock.catalog.skus({p for p, _ in positions})
        self._sites = runtime.stock.catalog.sites()
        self._count = 0

    def write(self, count: int) -> None:
        from promo.services import stock as stock_service

        if not count:
            return
        now = dt.datetime.now(dt.timezone.utc)
        events = []
        for product_id, location_id in self._rng.sample(self._positions, min(count, len(self._positions))):
            self._count += 1
            events.append({"event_id": f"bench-watch-{self._name}-{self._count}", "sku": self._skus[product_id],
                           "location": self._sites[location_id].code, "type": "receipt", "quantity": 1,
                           "occurred_at": now})
        result = stock_service.ingest_events(self._runtime.unit_of_work(write=True), self._runtime.stock, events)
        if result["duplicates"] or result["refused"]:
            raise BenchError(f"receipts not applied: {result}")
        self._runtime.stock.follower.catch_up()


def timed_pass(watch: Callable[[], Any], judgements: Any) -> tuple[float, int]:
    before = judgements.judged_count
    started = time.perf_counter()
    watch()
    return (time.perf_counter() - started) * 1000, judgements.judged_count - before


def bench(opts: argparse.Namespace, tmp: Path) -> list[str]:
    from promo.services.campaign_lifecycle import StockJudgements, watch_stock

    class JudgeEveryCampaign(StockJudgements):
        def unchanged(self, campaign: Any, versions: tuple[int, ...]) -> bool:
            return False

    url, model_dir = prepare_database(opts, tmp)
    rng = random.Random(opts.seed)
    runtime = setup_runtime(url, model_dir)
    try:
        started = time.perf_counter()
        households, _, codes, _ = live_campaigns(runtime, opts.campaigns, opts.pool, rng)
        log(f"set-up: {len(codes)} active campaigns in {time.perf_counter() - started:.1f} s")
        runtime.demand.refresh_if_stale()

        stores = sorted({h.location_id for h in households})
        with runtime.unit_of_work() as uow:
            promoted = sorted({p for c in uow.campaigns.running() for p in uow.campaigns.product_ids(c.id)})
        view = runtime.stock.view
        catalog_positions = [(p.product_id, p.location_id) for loc in stores for p in view.positions_at_location(loc)]
        promoted_set = set(promoted)
        promoted_positions = [pair for pair in catalog_positions if pair[0] in promoted_set]
        share = len(promoted_positions) / max(1, len(catalog_positions))
        lines = [f"{len(codes)} running campaigns over {len(promoted)} products; {len(catalog_positions):,} stocked "
                 f"positions at {len(stores)} stores, {share:.1%} of them of promoted products; "
                 f"{opts.events} receipts between two passes, {opts.ticks} passes per scenario and kind"]

        kept = StockJudgements()
        every = JudgeEveryCampaign()
        settle = [len(watch_stock(runtime, judgements=kept)) for _ in range(3)]
        log(f"set-up: the first passes made {settle} transitions (overrides lapsing, short campaigns pausing)")
        lines.append("| scenario | kind | pass p50 ms | pass p90 ms | campaigns judged per pass (mean) |")
        lines.append("|---|---|---|---|---|")
        ratios = []
        for scenario in SCENARIOS:
            receipts = Receipts(runtime, scenario, promoted_positions if scenario == "promoted" else catalog_positions,
                                rng)
            events = 0 if scenario == "quiet" else opts.events
            samples: dict[str, list[tuple[float, int]]] = {"kept": [], "baseline": []}
            for tick in range(opts.ticks):
                receipts.write(events)
                # Both passes see the same events; the kept one first, as the live watch does.
                samples["kept"].append(timed_pass(lambda: watch_stock(runtime, judgements=kept), kept))
                samples["baseline"].append(timed_pass(lambda: watch_stock(runtime, judgements=every), every))
            medians = {}
            for kind, found in samples.items():
                times = [ms for ms, _ in found]
                medians[kind] = statistics.median(times)
                judged = statistics.mean(n for _, n in found)
                lines.append(f"| {scenario} | {kind} | {medians[kind]:.1f} | {percentile(times, 90):.1f} | {judged:.1f} |")
            if scenario != "quiet":      # with no stock event the watch skipped everything before too
                ratios.append(f"{scenario}: baseline / kept = {medians['baseline'] / max(medians['kept'], 1e-9):.1f}x")
        lines.append("; ".join(ratios))
        return lines
    finally:
        runtime.close()


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="promo-bench-watch-") as tmp:
        try:
            lines = bench(opts, Path(tmp))
        except BenchError as problem:
            raise SystemExit(f"bench: {problem}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
