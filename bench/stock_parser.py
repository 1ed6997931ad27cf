"""What reading a stock-event body costs: the JSON reader and the fast parser against
their baselines, measured in the same run.

    .venv/bin/python bench/stock_parser.py [--events 10000] [--repeat 7]

- JSON: promo.api.parsing.parse_json (depth, digit and NaN limits) against plain json.loads;
- parser: promo.api.stock_events.load_stock_event_batch (built from the schema) against
  the schema itself, StockEventBatchSchema().load, on the same body.
Best of --repeat runs each, printed per 1,000 events, with the ratio.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any, Callable

from promo.api.parsing import parse_json
from promo.api.stock_schemas import StockEventBatchSchema
from promo.api.stock_events import load_stock_event_batch


def body(events: int) -> dict[str, Any]:
    """Mixed events as a shop's feed sends them: 500 skus, 45 stores, a few reserves."""
    kinds = ["sale"] * 6 + ["receipt", "adjustment", "reserve", "release"]
    items = []
    for i in range(events):
        kind = kinds[i % len(kinds)]
        event = {"event_id": f"feed-{i}", "sku": str(100_000 + i % 500), "location": f"S{i % 45}", "type": kind,
                 "quantity": 1 + i % 5, "occurred_at": "2026-11-25T10:00:00Z"}
        if kind == "adjustment":
            event["reason"] = "damaged"
        if kind in ("reserve", "release"):
            event["reservation_id"] = f"cart-{i // 10}"
        if kind == "reserve":
            event["expires_at"] = "2026-11-25T10:15:00+01:00"
        items.append(event)
    return {"events": items}


def best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    document = body(args.events)
    raw = json.dumps(document).encode()
    per_thousand = 1000 / args.events * 1000   # seconds -> ms per 1,000 events
    figures = {
        "json.loads (baseline)": best(lambda: json.loads(raw), args.repeat),
        "parse_json": best(lambda: parse_json(raw), args.repeat),
        "StockEventBatchSchema().load (baseline)": best(lambda: StockEventBatchSchema().load(document), args.repeat),
        "load_stock_event_batch": best(lambda: load_stock_event_batch(document), args.repeat),
    }
    events, errors = load_stock_event_batch(document)
    assert not errors and events == StockEventBatchSchema().load(document)["events"]
    print(f"{args.events} events, best of {args.repeat}; ms per 1,000 events")
    for name, seconds in figures.items():
        print(f"  {name:<42} {seconds * per_thousand:8.3f}")
    print(f"  parse_json / json.loads                    {figures['parse_json'] / figures['json.loads (baseline)']:8.2f}x")
    print(f"  fast parser / schema                       "
          f"{figures['load_stock_event_batch'] / figures['StockEventBatchSchema().load (baseline)']:8.3f}x")


if __name__ == "__main__":
    main()
