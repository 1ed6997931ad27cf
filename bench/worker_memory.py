"""Benchmark: where a serving worker's memory goes, and how much the workers share.

    .venv/bin/python bench/worker_memory.py --url sqlite:///var/promo.db --model-dir models
    .venv/bin/python bench/worker_memory.py --url ... --model-dir ... --only stages
    .venv/bin/python bench/worker_memory.py --url ... --model-dir ... --only gunicorn --requests 400

Needs a database holding the demo and its trained models (`make run` makes both).

  stages    one fresh process builds a worker step by step and reports its memory after
            each: the interpreter; the web stack (Flask, flask-smorest, SQLAlchemy,
            psycopg, numpy); pandas; scikit-learn and SciPy; the rest of promo; the app
            (create_app: the stock view's snapshot and the catalog, with an empty model
            directory); the active models; then, through the Flask test client,
            --requests recommendation and as many availability requests, unknown
            customers at 40 stores, customer lists by segment and 5 audience scorings.
            RSS is what the process touches, USS (private) what only it holds.
  gunicorn  `gunicorn -c config/gunicorn.conf.py` (2 workers) on the database, warmed up
            with --requests recommendation requests over HTTP, then each worker's RSS,
            PSS (its fair share of shared pages) and USS from /proc/<pid>/smaps_rollup;
            with PROMO_PRELOAD=0 (every worker imports everything itself) and =1 (the
            default: the master imports the libraries before forking). The warm-up
            also scores 6 audiences (POST /v1/audiences/score), which read the whole
            purchase history. Baseline: the bare Flask app of bench/bare_app.py under
            the same gunicorn, after as many GET /healthz.

Both run with PROMO_AUDIENCE_WARM_UP=0, so that the audience arrays show in the phase that
uses them (the default builds them as a worker starts: see docs/deploy.md).

Linux only (/proc).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("stages", "gunicorn")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
PROMO = str(Path(sys.executable).parent / "promo")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def memory_of(pid: int | str = "self") -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) in MB."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = float(value.split()[0]) / 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"], "uss": fields["Private_Clean"] + fields["Private_Dirty"]}


# --- stages (runs in a child process: `worker_memory.py --stages-child URL MODEL_DIR N`) ---

def stages_child(url: str, model_dir: str, requests: int) -> None:
    marks: list[tuple[str, dict[str, float]]] = [("interpreter", memory_of())]

    def mark(name: str) -> None:
        marks.append((name, memory_of()))

    import flask, flask_smorest, marshmallow, numpy, psycopg, sqlalchemy.orm  # noqa: E401,F401
    mark("web stack: Flask, flask-smorest, SQLAlchemy, psycopg, numpy")
    import pandas  # noqa: F401
    mark("pandas")
    import scipy.sparse, sklearn.base, sklearn.linear_model  # noqa: E401,F401
    import promo.ml.recommender, promo.ml.response  # noqa: E401,F401
    mark("scikit-learn, SciPy (promo.ml)")
    import promo.api  # noqa: F401
    mark("the rest of promo (promo.api)")

    from promo import create_app
    from promo.adapters.model_store import ModelStore
    from promo.api.context import EXTENSION

    with tempfile.TemporaryDirectory() as empty:
        app = create_app({"database_url": url, "model_dir": empty, "log_level": "WARNING"})
        runtime = app.extensions[EXTENSION]
        deadline = time.monotonic() + 120
        while runtime.stock.view.size() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        mark(f"the app: stock view ({runtime.stock.view.size():,} positions), catalog")
        runtime.models.store = ModelStore(model_dir)
        runtime.models._failed.clear()   # they failed to load from the empty directory
        runtime.models.refresh()
        mark(f"the active models ({', '.join(sorted(runtime.models._served))})")

        from sqlalchemy import text

        with runtime.engine.connect() as connection:
            homes = dict(connection.execute(text(
                "SELECT c.external_id, l.code FROM customers c JOIN locations l ON l.id = c.home_location_id "
                "LIMIT 2000")).all())
            skus = [row[0] for row in connection.execute(text("SELECT sku FROM products LIMIT 5000")).all()]
        from promo.services import api_keys

        _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="bench-memory", role="admin",
                                       replace=True)
        customers = sorted(homes)
        client, headers, rng = app.test_client(), {"Authorization": f"Bearer {token}"}, random.Random(7)
        for i in range(requests):
            customer = rng.choice(customers)
            mode = "repeat" if i % 2 else "discovery"
            answer = client.get(f"/v1/customers/{customer}/recommendations?channel=store&location={homes[customer]}"
                                f"&mode={mode}&limit=10", headers=headers)
            assert answer.status_code == 200, answer.json
        mark(f"after {requests} recommendation requests")
        for i in range(requests):
            answer = client.get(f"/v1/availability?sku={rng.choice(skus)}&channel=store&location="
                                f"{homes[rng.choice(customers)]}", headers=headers)
        mark(f"after {requests} availability requests")
        stores = sorted(set(homes.values()))[:40]
        for i, store in enumerate(stores):   # unknown customers get popular products at their store
            answer = client.get(f"/v1/customers/bench-cold-{i}/recommendations?channel=store&location={store}",
                                headers=headers)
        mark(f"after cold-customer requests at {len(stores)} stores")
        for segment in ("lapsing", "loyal", "big_basket", "coupon_user"):
            client.get(f"/v1/customers?segment={segment}&limit=100", headers=headers)
        mark("after customer lists by segment")
        for i in range(5):
            answer = client.post("/v1/audiences/score", headers=headers, json={
                "skus": rng.sample(skus, 3), "campaign_type": "Type B", "limit": 100})
        mark("after 5 audience scorings (the response model over every customer)")
        view_bytes = sum(getattr(array, "nbytes", 0) for array in
                         [runtime.stock.view._keys, *runtime.stock.view._values.values()])
        model_bytes = sum(array.nbytes for name in runtime.models._served
                          for array in runtime.models.store.load(name, runtime.models._served[name].version)
                          .arrays.values())
        runtime.close()
    print(json.dumps({"marks": marks, "view_mb": view_bytes / 2 ** 20, "model_arrays_mb": model_bytes / 2 ** 20}))


def bench_stages(url: str, model_dir: str, requests: int) -> list[str]:
    # Without the start-up warm-up, each stage shows what its own use costs (with it, the
    # audience arrays come at start, in a thread, and mix into every stage).
    env = {**os.environ, "PROMO_DATABASE_URL": url, "PROMO_MODEL_DIR": model_dir, "PROMO_LOG_LEVEL": "WARNING",
           "PROMO_AUDIENCE_WARM_UP": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out = subprocess.run([sys.executable, __file__, "--stages-child", url, model_dir, str(requests)], cwd=ROOT,
                         env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    lines = [f"{'stage (one process)':<68} {'RSS MB':>7} {'+RSS':>6} {'USS MB':>7}"]
    previous = 0.0
    for name, memory in result["marks"]:
        lines.append(f"{name:<68} {memory['rss']:>7.0f} {memory['rss'] - previous:>+6.0f} {memory['uss']:>7.0f}")
        previous = memory["rss"]
    lines.append(f"stock view columns: {result['view_mb']:.1f} MB; active models' arrays: "
                 f"{result['model_arrays_mb']:.1f} MB")
    return lines


# --- gunicorn -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base: str, path: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server stopped while starting")
        try:
            with urllib.request.urlopen(base + path, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("server not ready in 180 s")


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def served_workers(argv: list[str], env: dict[str, str], ready_path: str,
                   phases: list[tuple[str, Any]]) -> list[tuple[str, list[dict[str, float]]]]:
    """Each worker's memory after each phase of requests."""
    port = free_port()
    server = subprocess.Popen([*argv, "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, ready_path, server)
        time.sleep(2)   # both workers up
        measured = []
        for name, send in phases:
            send(base)
            time.sleep(1)
            measured.append((name, [memory_of(pid) for pid in children_of(server.pid)]))
        return measured
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_gunicorn(url: str, model_dir: str, requests: int) -> list[str]:
    from promo.bootstrap import bootstrap
    from promo.config import load_settings
    from promo.services import api_keys
    from sqlalchemy import text

    runtime = bootstrap(load_settings({"database_url": url, "model_dir": model_dir, "log_level": "WARNING"}))
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="bench-memory", role="admin", replace=True)
    with runtime.engine.connect() as connection:
        homes = connection.execute(text(
            "SELECT c.external_id, l.code FROM customers c JOIN locations l ON l.id = c.home_location_id "
            "LIMIT 2000")).all()
        skus = [row[0] for row in connection.execute(text("SELECT sku FROM products LIMIT 5000")).all()]
    runtime.close()
    rng = random.Random(7)
    plan = [(rng.choice(homes), "repeat" if i % 2 else "discovery") for i in range(requests)]

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def recommendations(base: str) -> None:
        for (customer, home), mode in plan:
            request = urllib.request.Request(
                f"{base}/v1/customers/{customer}/recommendations?channel=store&location={home}&mode={mode}&limit=10",
                headers=headers)
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()

    def scorings(base: str) -> None:
        for i in range(6):   # three per worker, roughly: each reads the whole history
            body = json.dumps({"skus": rng.sample(skus, 3), "campaign_type": "Type B", "limit": 100}).encode()
            request = urllib.request.Request(f"{base}/v1/audiences/score", data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=120) as answer:
                answer.read()

    def bare_warm_up(base: str) -> None:
        for _ in range(requests):
            with urllib.request.urlopen(base + "/healthz", timeout=30) as answer:
                answer.read()

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PROMO_DATABASE_URL": url, "PROMO_MODEL_DIR": model_dir,
               "PROMETHEUS_MULTIPROC_DIR": f"{tmp}/metrics", "PROMO_WORKERS": "2",
               "PROMO_AUDIENCE_WARM_UP": "0"}     # the scorings' cost shows in their own phase
        rows = []
        phases = [("started", lambda base: None), (f"{requests} recommendations", recommendations),
                  ("+ 6 audience scorings", scorings)]
        for preload in ("0", "1"):
            log(f"gunicorn, PROMO_PRELOAD={preload}")
            for phase, workers in served_workers([GUNICORN, "-c", "config/gunicorn.conf.py"],
                                                 {**env, "PROMO_PRELOAD": preload}, "/readyz", phases):
                rows.append((f"promo, PROMO_PRELOAD={preload}", phase, workers))
        log("gunicorn, bench/bare_app.py")
        for phase, workers in served_workers([GUNICORN, "-w", "2", "--pythonpath", "bench", "bare_app:app"], env,
                                             "/healthz", [(f"{requests} GET /healthz", bare_warm_up)]):
            rows.append(("baseline: bare Flask app", phase, workers))
    lines = [f"{'server (2 workers)':<26} {'after':<26} {'RSS MB':>7} {'PSS MB':>7} {'USS MB':>7}  "
             f"(per worker: mean; USS of each)"]
    for name, phase, workers in rows:
        mean = {key: sum(w[key] for w in workers) / len(workers) for key in ("rss", "pss", "uss")}
        each = ", ".join(f"{w['uss']:.0f}" for w in workers)
        lines.append(f"{name:<26} {phase:<26} {mean['rss']:>7.0f} {mean['pss']:>7.0f} {mean['uss']:>7.0f}  ({each})")
    return lines


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--stages-child":
        stages_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="A database holding the demo (e.g. sqlite:///var/promo.db).")
    parser.add_argument("--model-dir", required=True, help="Its trained models (e.g. models).")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--only", default=",".join(PARTS))
    args = parser.parse_args()
    for part in args.only.split(","):
        log(part)
        found = (bench_stages if part == "stages" else bench_gunicorn)(args.url, args.model_dir, args.requests)
        print("\n".join(found) + "\n", flush=True)


if __name__ == "__main__":
    main()
