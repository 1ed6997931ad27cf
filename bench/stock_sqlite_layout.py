"""Benchmark: what a SQLite stock write costs in SQLite itself, positions rewritten in
every batch against a positions table brought forward in bulk (stock_positions_lag).

    .venv/bin/python bench/stock_sqlite_layout.py                  # both, lags 16k/32k/64k
    .venv/bin/python bench/stock_sqlite_layout.py --page-size 1024 # the same, smaller pages

No service, no Python decisions: the statements the write path runs, on promo's schema
and pragmas, with batches of 1,000 events over random positions (--products x the
demo-sized --locations). Each batch is timed from BEGIN IMMEDIATE to COMMIT; the first
third of the batches warm the tables and are left out. The baseline is the batch as it
was before the positions table could trail: log insert, positions upsert, commit.
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stock as stock_bench  # bench/stock.py: schema and catalog seeding

from promo.adapters.stock_repository import BRING_FORWARD  # the statement the service runs

LOG_INSERT = (
    "INSERT INTO stock_events (seq, product_id, location_id, type, quantity, reservation_id, expires_at, eta, "
    "refusal, delta_on_hand, delta_reserved, delta_safety_stock, delta_inbound, inbound_id, event_id, reason, "
    "occurred_at, recorded_at, anomaly) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
POSITIONS_UPSERT = (
    "INSERT INTO stock_positions (product_id, location_id, on_hand, reserved, safety_stock, inbound, last_seq) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (product_id, location_id) DO UPDATE SET on_hand = excluded.on_hand, "
    "reserved = excluded.reserved, safety_stock = excluded.safety_stock, inbound = excluded.inbound, "
    "last_seq = excluded.last_seq")


def database(products: int, locations: int, page_size: int | None) -> tuple[sqlite3.Connection, list[int], list[int]]:
    path = Path(tempfile.mkdtemp(prefix="promo-layout-")) / "layout.db"
    url = f"sqlite:///{path}"
    stock_bench.migrate(url)
    stock_bench.seed_catalog(url, products, locations - 5, 5)
    connection = sqlite3.connect(path, isolation_level=None)
    if page_size:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute(f"PRAGMA page_size={page_size}")
        connection.execute("VACUUM")
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "wal_autocheckpoint=65536",
                   "cache_size=-65536"):
        connection.execute(f"PRAGMA {pragma}")
    product_ids = [row[0] for row in connection.execute("SELECT id FROM products")]
    location_ids = [row[0] for row in connection.execute("SELECT id FROM locations")]
    return connection, product_ids, location_ids


def run(lag: int | None, opts: argparse.Namespace) -> tuple[float, float, int]:
    """(mean ms per batch including the bulk steps, mean ms of a bulk step, bulk steps);
    lag None rewrites positions in every batch."""
    connection, product_ids, location_ids = database(opts.products, opts.locations, opts.page_size)
    rng = random.Random(1)
    seq = written_up_to = 0
    batch_ms: list[float] = []
    bulk_ms: list[float] = []
    for b in range(opts.batches):
        rows, positions = [], {}
        for i in range(1000):
            seq += 1
            key = (rng.choice(product_ids), rng.choice(location_ids))
            rows.append((seq, *key, "sale" if rng.random() < 0.45 else "receipt", 1, None, None, None, None, -1,
                         0, 0, 0, None, f"t{b:05d}-c0-{i}", None, "2026-11-26 10:00:00.000000",
                         "2026-11-26 10:00:01.000000", 0))
            positions[key] = (*key, 5, 0, 0, 0, seq)
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(LOG_INSERT, rows)
        bulk_started = None
        if lag is None:
            connection.executemany(POSITIONS_UPSERT, sorted(positions.values()))
        elif seq - written_up_to >= lag:
            bulk_started = time.perf_counter()
            connection.execute(BRING_FORWARD)
            connection.execute("UPDATE stock_sequence SET positions_seq = ?", (seq,))
            written_up_to = seq
            bulk_ms.append((time.perf_counter() - bulk_started) * 1e3)
        connection.execute("COMMIT")
        batch_ms.append((time.perf_counter() - started) * 1e3)
    connection.close()
    measured = batch_ms[opts.batches // 3:]
    return statistics.mean(measured), statistics.mean(bulk_ms) if bulk_ms else 0.0, len(bulk_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--locations", type=int, default=50)
    parser.add_argument("--lags", default="16000,32000,64000", help="stock_positions_lag values to compare")
    parser.add_argument("--page-size", type=int, default=None, help="SQLite page size (default: SQLite's 4096)")
    opts = parser.parse_args()
    baseline, _, _ = run(None, opts)
    print(f"{opts.batches} batches of 1,000 events, {opts.products} products x {opts.locations} locations, "
          f"page size {opts.page_size or 4096}; mean ms per batch, BEGIN IMMEDIATE to COMMIT:")
    print(f"  positions rewritten every batch (baseline)   {baseline:6.2f} ms")
    for lag in (int(value) for value in opts.lags.split(",")):
        mean, bulk, steps = run(lag, opts)
        print(f"  brought forward every {lag:>7,} events        {mean:6.2f} ms   ({baseline / mean:.2f}x faster; "
              f"{steps} bulk steps of {bulk:.1f} ms, included)")


if __name__ == "__main__":
    main()
