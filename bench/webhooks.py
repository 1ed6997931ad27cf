"""Benchmark: what the webhook outbox costs a transaction, and how fast it is sent.

    .venv/bin/python bench/webhooks.py                      # SQLite, a fresh temporary database
    .ci/with-postgres bash -c '.venv/bin/python bench/webhooks.py --url "$PROMO_PG_URL"'

1. Enqueue: a write transaction that upserts one product and commits (the baseline,
   measured in the same run), against the same transaction that also calls
   ``webhooks.enqueue`` with 0, 1 and 5 subscribed endpoints. Median over --runs.
2. Sending: --deliveries deliveries to a loopback HTTP receiver that answers 200 at
   once (or after --receiver-delay-ms), by one pass of one sender thread and by 2 and 4 threads; baseline: the same
   number of signed POSTs sent in a loop with no database at all.
"""
from __future__ import annotations

import argparse
import http.server
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from promo.adapters import migrations
from promo.adapters.orm import Base
from promo.adapters.webhook_http import post_json
from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.domain import webhooks as rules
from promo.services import webhooks


class _Ok(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _reset(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        for table in ("webhook_deliveries", "webhooks", "products"):
            connection.execute(text(f"DELETE FROM {table}"))


def _transaction_ms(runtime, runs: int, enqueue: bool) -> float:  # type: ignore[no-untyped-def]
    times = []
    for n in range(runs):
        started = time.perf_counter()
        with runtime.unit_of_work(write=True) as uow:
            uow.products.upsert([{"sku": f"bench-{n % 50}", "name": "x", "category": None, "brand": None,
                                  "price": 1.0, "currency": "USD", "attributes": {}}])
            if enqueue:
                webhooks.enqueue(uow, "stock.low", {"sku": f"bench-{n % 50}", "location": "s1", "available": 3})
            uow.commit()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bench_enqueue(runtime, runs: int, url: str) -> None:  # type: ignore[no-untyped-def]
    print("enqueue (median ms per write transaction)")
    baseline = _transaction_ms(runtime, runs, enqueue=False)
    print(f"  baseline: upsert one product, commit          {baseline:7.3f} ms")
    made = 0
    for subscribers in (0, 1, 5):
        while made < subscribers:
            webhooks.create_webhook(runtime.unit_of_work(write=True), runtime.settings.secret_key, url=url,
                                    events=["stock.low"])
            made += 1
        figure = _transaction_ms(runtime, runs, enqueue=True)
        print(f"  + enqueue, {subscribers} subscribed endpoint(s)        {figure:7.3f} ms  "
              f"(x{figure / baseline:.2f}, +{figure - baseline:.3f} ms)")
    _reset(runtime.engine)


def bench_sending(settings_for, url: str, deliveries: int) -> None:  # type: ignore[no-untyped-def]
    print(f"sending {deliveries} deliveries to a loopback receiver answering after {_Ok.delay * 1000:g} ms "
          "(deliveries/s)")
    body = rules.body_of("evt_x", "stock.low", "2026-11-30T00:00:00+00:00", {"sku": "a"})
    started = time.perf_counter()
    for _ in range(deliveries):
        now = int(time.time())
        post_json(url, body, {rules.SIGNATURE_HEADER: rules.signature_header("whsec_x", now, body)}, 5)
    baseline = deliveries / (time.perf_counter() - started)
    print(f"  baseline: signed POSTs in a loop, no database  {baseline:7.0f}/s")
    for threads in (1, 2, 4):
        runtime = bootstrap(settings_for(threads))
        try:
            webhooks.create_webhook(runtime.unit_of_work(write=True), runtime.settings.secret_key, url=url,
                                    events=["stock.low"])
            for chunk in range(0, deliveries, 100):
                with runtime.unit_of_work(write=True) as uow:
                    for n in range(chunk, min(chunk + 100, deliveries)):
                        webhooks.enqueue(uow, "stock.low", {"sku": f"s{n}"})
                    uow.commit()
            started = time.perf_counter()
            if threads == 1:
                report = runtime.webhooks.send_due()
                assert report.delivered == deliveries, report
            else:
                runtime.webhooks.start()
                while webhooks.pending_count(runtime.unit_of_work()):
                    time.sleep(0.005)
            rate = deliveries / (time.perf_counter() - started)
            label = "one pass, 1 thread (send-due)" if threads == 1 else f"{threads} sender threads"
            print(f"  outbox: {label:<38} {rate:7.0f}/s  (x{rate / baseline:.2f} of the baseline)")
        finally:
            runtime.close()
            _reset(runtime.engine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--receiver-delay-ms", type=float, default=0.0,
                        help="the receiver waits this long before answering (a slow endpoint)")
    args = parser.parse_args()
    _Ok.delay = args.receiver_delay_ms / 1000
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = create_engine(database_url)
        migrations.upgrade(engine)
        engine.dispose()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"

        def settings_for(threads: int):  # type: ignore[no-untyped-def]
            return load_settings({"database_url": database_url, "log_level": "WARNING",
                                  "webhook_sender_threads": threads, "webhook_poll_interval_ms": 5,
                                  "webhook_batch_size": 20})

        print(f"database: {database_url.split('@')[-1]}")
        runtime = bootstrap(settings_for(0))
        try:
            bench_enqueue(runtime, args.runs, url)
        finally:
            runtime.close()
        bench_sending(settings_for, url, args.deliveries)
        server.shutdown()
        if args.url:
            engine = create_engine(database_url)
            with engine.begin() as connection:
                for table in reversed(Base.metadata.sorted_tables):
                    if table.name in ("webhook_deliveries", "webhooks", "products"):
                        connection.execute(table.delete())
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
