"""Benchmark: `promo demo load` of the whole Complete Journey into a fresh database.

    .venv/bin/python bench/demo_load.py                 # SQLite in a temporary file
    .venv/bin/python bench/demo_load.py --url URL       # e.g. a PostgreSQL database

Prints wall time, peak memory of the loading process, and as a same-run baseline the
time to read the dataset and build the records without any database, so the ratio says
what the database work costs on this (noisy) machine. Goal: under 180 s and 4 GB.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMO = str(Path(sys.executable).parent / "promo")


def baseline_seconds() -> float:
    from promo.adapters import completejourney as cj

    started = time.perf_counter()
    data = cj.CompleteJourney.read()
    cj.locations(data), cj.products(data), cj.customers(data)
    for _ in cj.purchase_events(data.transactions, 10_000):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        env = {"PROMO_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
        subprocess.run([PROMO, "db", "upgrade"], env=env, check=True, cwd=ROOT, capture_output=True)
        started = time.perf_counter()
        subprocess.run([PROMO, "demo", "load", "--quiet"], env=env, check=True, cwd=ROOT)
        load = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        started = time.perf_counter()
        subprocess.run([PROMO, "demo", "load", "--quiet"], env=env, check=True, cwd=ROOT)
        reload = time.perf_counter() - started
    base = baseline_seconds()
    print(f"database: {url.split(':')[0]}")
    print(f"full load:          {load:7.1f} s   (goal < 180 s)")
    print(f"peak memory:        {peak_mb:7.0f} MB  (goal < 4096 MB)")
    print(f"re-run (no-op):     {reload:7.1f} s")
    print(f"baseline (no db):   {base:7.1f} s   -> load / baseline = {load / base:.1f}x")


if __name__ == "__main__":
    main()
