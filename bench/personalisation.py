"""Benchmark: personalisation (training time and memory, recommendation scoring latency).

    .venv/bin/python bench/personalisation.py                  # loads the demo into a temp SQLite first
    .venv/bin/python bench/personalisation.py --url sqlite:///var/promo.db   # a database holding the demo
    .venv/bin/python bench/personalisation.py --requests 5000 --only score

Parts, each with a baseline measured in the same run (these 2-core machines are noisy):

  train   `promo train --no-activate` (both models) in a child process: wall time and
          peak RSS. Goal: under 60 s and 4 GB. Baseline: reading the same history from
          the database into frames, which every training run must do.
  score   recommendations for random known customers (half repeat, half discovery, a
          random store, limit 10), in-process, with the live stock filter of the stock
          view loaded from the same database:
            model      Recommender.recommend() alone: the issue's goal, p99 < 2 ms;
            service    the whole use case behind the endpoint (customer lookup, reading
                       interactions newer than the model, sku mapping), minus HTTP;
            baseline   the popularity fallback's ranking with the same stock filter.
  http    GET /v1/customers/{id}/recommendations over HTTP (gunicorn, 2 workers, as
          `make serve`), known customers at their home store, half repeat, half
          discovery, from --clients threads for --seconds; baseline: GET /healthz of
          bench/bare_app.py under the same gunicorn and clients, taking turns.
"""
from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PROMO = str(Path(sys.executable).parent / "promo")
PARTS = ("train", "score", "http")
TRAIN_SECONDS_GOAL = 60.0
TRAIN_BYTES_GOAL = 4 * 1024 ** 3
SCORE_P99_GOAL_MS = 2.0


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentiles(samples: Sequence[float]) -> tuple[float, float, float]:
    values = np.asarray(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99)), float(values.max())


def run(args: list[str], url: str, model_dir: str) -> None:
    env = {"PROMO_DATABASE_URL": url, "PROMO_MODEL_DIR": model_dir, "PROMO_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    subprocess.run([PROMO, *args], check=True, env=env, cwd=ROOT)


def runtime_for(url: str, model_dir: str) -> Any:
    from promo.bootstrap import bootstrap
    from promo.config import load_settings

    return bootstrap(load_settings({"database_url": url, "model_dir": model_dir, "log_level": "WARNING"}))


def bench_train(url: str, model_dir: str) -> list[str]:
    from promo.services.training import load_training_data

    runtime = runtime_for(url, model_dir)
    started = time.perf_counter()
    data = load_training_data(runtime)
    read_seconds = time.perf_counter() - started
    rows = len(data.history)
    runtime.close()
    del data
    log("training both models in a child process")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    run(["train", "--no-activate", "--quiet"], url, model_dir)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    note = "" if peak > before * 1024 else " (peak of an earlier child; at most this)"
    return [
        f"train: {rows:,} interactions; promo train (both models, incl. start-up and reading): "
        f"{seconds:.1f} s (goal < {TRAIN_SECONDS_GOAL:.0f} s: {'met' if seconds < TRAIN_SECONDS_GOAL else 'MISSED'})",
        f"train: peak RSS {peak / 1024 ** 2:,.0f} MB{note} (goal < 4096 MB: "
        f"{'met' if peak < TRAIN_BYTES_GOAL else 'MISSED'})",
        f"train: baseline, reading the history into frames alone: {read_seconds:.1f} s "
        f"(training costs {seconds / read_seconds:.1f}x that)",
    ]


class Pinned:
    """Serves one given model (stands in for the process's ModelServer)."""

    def __init__(self, served: Any):
        self.served = served

    def get(self, name: str) -> Any:
        return self.served if name == self.served.name else None


def timed(calls: Sequence[Callable[[], Any]]) -> list[float]:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def bench_score(url: str, model_dir: str, requests: int, seed: int) -> list[str]:
    from sqlalchemy import text

    from promo.adapters.model_store import ModelStore
    from promo.services import recommendations, training
    from promo.services.model_server import BUILDERS, RECOMMENDER, ServedModel

    store = ModelStore(model_dir)
    runtime = runtime_for(url, model_dir)
    if not store.versions(RECOMMENDER):
        log("no recommender yet: training one")
        training.train(runtime, [RECOMMENDER], activate=False)
    # The newest version in the bench's own store, pinned: the database's active_models
    # row (which may name another model_dir) is left alone.
    version = store.versions(RECOMMENDER)[-1]
    artefact = store.load(RECOMMENDER, version)
    served = ServedModel(RECOMMENDER, version, BUILDERS[RECOMMENDER](artefact), artefact.metadata)
    pinned = Pinned(served)
    runtime.stock.follower.load_snapshot()
    model = served.estimator
    rng = random.Random(seed)
    sites = [site for site in runtime.stock.catalog.sites().values() if "store" in site.channels]
    with runtime.unit_of_work() as uow:
        external = dict(uow.session.execute(text("SELECT id, external_id FROM customers")).all())
    customers = [int(c) for c in model.customers_]
    plan = [(rng.choice(customers), rng.choice(("repeat", "discovery")), rng.choice(sites)) for _ in range(requests)]

    def model_call(customer: int, mode: str, site: Any) -> Callable[[], Any]:
        def available(ids: np.ndarray) -> np.ndarray:
            return runtime.stock.view.in_stock(ids, [site.location_id])
        return lambda: model.recommend(customer, mode=mode, limit=10, location=site.location_id,
                                       available=available)

    def service_call(customer: int, mode: str, site: Any) -> Callable[[], Any]:
        return lambda: recommendations.recommend(
            runtime.unit_of_work(), runtime.stock, pinned, runtime.popularity, external[customer],
            channel="store", location=site.code, limit=10, mode=mode)

    fallback = recommendations.PopularityFallback()

    def baseline_call(customer: int, mode: str, site: Any) -> Callable[[], Any]:
        with runtime.unit_of_work() as uow:
            fallback.ranked(uow, None)   # warm its cache: the baseline is the ranking, not the query

        def available(ids: np.ndarray) -> np.ndarray:
            return runtime.stock.view.in_stock(ids, [site.location_id])
        uow = runtime.unit_of_work()
        return lambda: fallback.recommend(uow, None, 10, available)

    lines = [f"score: model {served.version}, {len(customers):,} customers, {len(sites)} stores, "
             f"{requests:,} requests per path (half repeat, half discovery)"]
    results = {}
    # Steady state: every store has been asked about once (its in-stock flags exist).
    for site in sites:
        runtime.stock.view.in_stock(np.array([0], dtype=np.int64), [site.location_id])
    for name, make in (("model", model_call), ("service", service_call), ("baseline", baseline_call)):
        calls = [make(*entry) for entry in plan]
        timed(calls[: min(200, len(calls))])          # warm-up
        results[name] = percentiles(timed(calls))
    for name, (p50, p99, worst) in results.items():
        goal = ""
        if name == "model":
            goal = f" (goal p99 < {SCORE_P99_GOAL_MS} ms: {'met' if p99 < SCORE_P99_GOAL_MS else 'MISSED'})"
        lines.append(f"score: {name:<8} p50 {p50:.3f} ms  p99 {p99:.3f} ms  max {worst:.1f} ms{goal}")
    lines.append(f"score: model p99 / baseline p99 = {results['model'][1] / results['baseline'][1]:.1f}x")
    runtime.close()
    return lines


def bench_http(url: str, model_dir: str, clients: int, seconds: float, seed: int) -> list[str]:
    from sqlalchemy import text

    from stock import bare_server, clean_env, free_port, gunicorn, timed_gets  # bench/stock.py

    from promo.adapters.model_store import ModelStore
    from promo.services import api_keys, training
    from promo.services.model_server import RECOMMENDER

    store = ModelStore(model_dir)
    runtime = runtime_for(url, model_dir)
    if not store.versions(RECOMMENDER):
        training.train(runtime, [RECOMMENDER], activate=False)
    with runtime.unit_of_work() as uow:
        previous = uow.active_models.version(RECOMMENDER)
        homes = uow.session.execute(text(
            "SELECT c.external_id, l.code FROM customers c JOIN locations l ON l.id = c.home_location_id")).all()
    _, key = api_keys.create_key(runtime.unit_of_work(write=True), name=f"bench-{time.time_ns()}", role="channel")
    training.activate_version(runtime, RECOMMENDER, store.versions(RECOMMENDER)[-1])
    rng = random.Random(seed)
    paths = [f"/v1/customers/{customer}/recommendations?channel=store&location={code}&limit=10&mode={mode}"
             for customer, code in rng.sample(homes, min(1000, len(homes))) for mode in ("repeat", "discovery")]
    rng.shuffle(paths)
    headers = {"Authorization": f"Bearer {key}"}
    results: dict[str, list[float]] = {"promo": [], "bare": []}
    errors = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            (Path(tmp) / "metrics").mkdir()
            env = clean_env(PROMO_DATABASE_URL=url, PROMO_BIND=f"127.0.0.1:{port}", PROMO_ENV="test",
                            PROMO_LOG_LEVEL="WARNING", PROMO_MODEL_DIR=model_dir,
                            PROMETHEUS_MULTIPROC_DIR=str(Path(tmp) / "metrics"))
            with gunicorn(["-c", "config/gunicorn.conf.py"], env, port, "/readyz", Path(tmp) / "promo.log"), \
                    bare_server(Path(tmp)) as bare_port:
                timed_gets(port, paths[:200], headers, clients, 3.0)          # warm-up: models, flags, caches
                for _ in range(2):                                            # taking turns
                    latencies, bad = timed_gets(port, paths, headers, clients, seconds / 2)
                    errors += bad
                    results["promo"] += latencies.get("customers", [])
                    latencies, _ = timed_gets(bare_port, ["/healthz"], {}, clients, seconds / 2)
                    results["bare"] += latencies.get("healthz", [])
    finally:
        with runtime.unit_of_work(write=True) as uow:
            if previous is None:
                uow.session.execute(text("DELETE FROM active_models WHERE name = :name"), {"name": RECOMMENDER})
            else:
                uow.active_models.activate(RECOMMENDER, previous)
            uow.commit()
        runtime.close()
    rates = {name: len(values) / seconds for name, values in results.items()}
    promo_p = percentiles(results["promo"])
    bare_p = percentiles(results["bare"])
    return [
        f"http: {clients} client threads, {seconds:.0f} s each side; {errors} non-200 answers",
        f"http: recommendations {rates['promo']:,.0f} req/s, p50 {promo_p[0]:.1f} ms, p99 {promo_p[1]:.1f} ms",
        f"http: bare app /healthz {rates['bare']:,.0f} req/s, p50 {bare_p[0]:.1f} ms, p99 {bare_p[1]:.1f} ms",
        f"http: recommendations / bare throughput = {rates['promo'] / rates['bare']:.2f}x",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a database holding the demo data (default: load it into a temp SQLite)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {PARTS}")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=8, help="HTTP client threads (http part)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring time per side (http part)")
    args = parser.parse_args()
    parts = [part for part in args.only.split(",") if part]
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/bench.db"
        model_dir = f"{tmp}/models"
        if not args.url:
            log("loading the demo into a fresh SQLite database (about a minute)")
            run(["db", "upgrade"], url, model_dir)
            run(["demo", "load", "--quiet"], url, model_dir)
        lines = []
        if "train" in parts:
            lines += bench_train(url, model_dir)
        if "score" in parts:
            lines += bench_score(url, model_dir, args.requests, args.seed)
        if "http" in parts:
            lines += bench_http(url, model_dir, args.clients, args.seconds, args.seed)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
