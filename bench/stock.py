"""Benchmark: the live-stock capability (ingest, reads, memory, propagation).

    .venv/bin/python bench/stock.py                       # SQLite, fresh temporary databases
    .venv/bin/python bench/stock.py --quick               # a smoke run, well under a minute
    .venv/bin/python bench/stock.py --only ingest,read    # some parts
    .venv/bin/python bench/stock.py --positions 1000000   # memory part at these sizes
    .ci/with-postgres bash -c '.venv/bin/python bench/stock.py --url "$PROMO_PG_URL"'
    PROMO_PG_DURABLE=1 .ci/with-postgres bash -c '.venv/bin/python bench/stock.py --url "$PROMO_PG_URL"'

Every part runs against its own freshly migrated database (SQLite: a new file; PostgreSQL:
a new database created beside the one --url names, dropped afterwards). These 2-core
machines are noisy, so each figure comes with a baseline measured in the same run:

  ingest       POST /v1/stock/events, batches of 1,000 mixed events, from client threads
               to gunicorn (config/gunicorn.conf.py, 2 workers); baseline: the same
               requests to bench/bare_app.py (parse the JSON, count the items) under the
               same gunicorn, the two taking turns over --rounds rounds. Goal (SQLite):
               >= 50,000 events/s.
  read         GET /v1/availability and GET /v1/stock/<sku> latency while one client
               keeps ingesting; baseline: GET /healthz under the same load (taking turns).
  memory       StockFollower.load_snapshot() of 1M and 10M positions (filled with SQL) in a
               fresh process: view bytes per position (goal <= 32), load rate (goal >= 1M/s),
               RSS growth and peak per position; baselines: fetching the same rows with
               the bare driver, and a numpy sort of the keys.
  propagation  from an event committed in one process to its visibility in another's view;
               goal p99 < 250 ms on SQLite, < 100 ms on PostgreSQL; baseline: the poll interval.
  instances    PostgreSQL only (not in the default parts): the ingest above with 1, 2 and
               3 promo instances (separate gunicorn masters, 2 workers each) writing to
               the one database, the client threads spread over them (--instance-clients
               per instance); events/s per count, and where it tops out. Baseline: one
               instance. On these 2-core machines PostgreSQL and every instance share the
               same cores, so the figure says where one host tops out, not a cluster.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import http.client
import json
import multiprocessing
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("ingest", "read", "memory", "propagation", "instances")
DEFAULT_PARTS = PARTS[:4]
TOKEN = "t00000-"                    # in every generated id; replaced to make fresh copies of a body
INGEST_GOAL = 50_000                 # events/s, SQLite
BYTES_GOAL = 32                      # view bytes per position
LOAD_GOAL = 1_000_000                # positions/s
PROPAGATION_GOAL = {"sqlite": 0.250, "postgresql": 0.100}   # p99, seconds


# --- small helpers ------------------------------------------------------------------------

def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def proc_status(field: str) -> int:
    """A /proc/self/status memory figure (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")            # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def from_child(child: Any, queue: Any, timeout: float) -> Any:
    """The next thing a child process sent; fails at once if the child died instead."""
    import queue as queue_module

    deadline = time.monotonic() + timeout
    while True:
        try:
            return queue.get(timeout=0.5)
        except queue_module.Empty:
            if not child.is_alive():
                raise RuntimeError(f"the benchmark's child process died (exit code {child.exitcode})") from None
            if time.monotonic() > deadline:
                child.terminate()
                raise RuntimeError(f"no answer from the benchmark's child process in {timeout:g} s") from None


def promo_settings(url: str) -> Any:
    from promo.config import load_settings

    return load_settings({"database_url": url, "env": "test", "log_level": "WARNING"})


def hide_password(text: str) -> str:
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


@dataclasses.dataclass
class Row:
    part: str
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None
    baseline: str = ""


class Report:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(self, part: str, figure: str, value: str, goal: str = "", met: bool | None = None,
            baseline: str = "") -> None:
        row = Row(part, figure, value, goal, met, baseline)
        self.rows.append(row)
        extra = "".join(f"   {x}" for x in (f"goal {goal}" if goal else "", self._met(met), baseline) if x)
        print(f"  {figure:<34} {value:>18}{extra}", flush=True)

    @staticmethod
    def _met(met: bool | None) -> str:
        return "" if met is None else ("MET" if met else "NOT MET")

    def table(self) -> str:
        header = ("part", "figure", "value", "goal", "met", "vs baseline (same run)")
        cells = [header] + [(r.part, r.figure, r.value, r.goal or "-", self._met(r.met) or "-", r.baseline or "-")
                            for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


# --- fresh databases ----------------------------------------------------------------------

class Databases:
    """Hands out fresh, migrated databases: SQLite files in a temporary directory, or
    PostgreSQL databases created beside the one the given URL names."""

    def __init__(self, url: str | None, tmp: Path):
        self.url = url
        self.tmp = tmp
        self.kind = "postgresql" if url else "sqlite"

    @contextlib.contextmanager
    def fresh(self, name: str) -> Iterator[str]:
        if self.url is None:
            path = self.tmp / f"{name}.db"
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        base = make_url(self.url)
        database = f"{base.database}_bench_{name}_{os.getpid()}".lower()
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
        except Exception as exc:
            admin.dispose()
            raise SystemExit(f"cannot create a fresh database beside {hide_password(self.url)} "
                             f"(the role needs CREATEDB): {str(exc).splitlines()[0]}") from None
        try:
            yield base.set(database=database).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                try:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                except Exception:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
            admin.dispose()


def durability(url: str | None) -> str:
    """How durable a commit is on this database, as configured (said next to the figures)."""
    if url is None:
        return "SQLite WAL, synchronous=NORMAL as promo sets it: survives a process crash, not a power loss"
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
            fsync = connection.execute("SHOW fsync").fetchone()[0]
            sync = connection.execute("SHOW synchronous_commit").fetchone()[0]
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"
    durable = fsync == "on" and sync != "off"
    return f"fsync={fsync}, synchronous_commit={sync}: {'durable' if durable else 'NOT durable (PROMO_PG_DURABLE=1 for durable numbers)'}"


def migrate(url: str) -> None:
    from promo.adapters.database import create_db_engine
    from promo.adapters.migrations import upgrade

    engine = create_db_engine(promo_settings(url))
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# --- a catalog and an admin key -------------------------------------------------------------

def seed_catalog(url: str, products: int, stores: int, warehouses: int) -> tuple[list[str], list[str], list[str], str]:
    """Products and locations through the catalog use cases, and an admin key.
    Returns (skus, store codes, warehouse codes, admin token)."""
    from promo.bootstrap import bootstrap
    from promo.services import api_keys, catalog

    runtime = bootstrap(promo_settings(url))
    try:
        skus = [f"sku-{i:06d}" for i in range(1, products + 1)]
        items = [{"sku": sku, "name": f"Product {sku}", "category": f"CAT{i % 40}", "brand": f"B{i % 300}",
                  "price": round(1 + (i % 997) / 10, 2), "currency": "USD"} for i, sku in enumerate(skus)]
        for start in range(0, len(items), 5000):
            catalog.upsert_products(runtime.unit_of_work(write=True), items[start:start + 5000])
        store_codes = [f"S{i:03d}" for i in range(1, stores + 1)]
        dc_codes = [f"DC{i:02d}" for i in range(1, warehouses + 1)]
        catalog.upsert_locations(runtime.unit_of_work(write=True), [
            {"code": code, "name": f"Store {code}", "kind": "store",
             "channels": ["store", "mobile"] if i % 3 == 0 else ["store"], "lead_time_days": 0}
            for i, code in enumerate(store_codes)] + [
            {"code": code, "name": f"Warehouse {code}", "kind": "warehouse", "channels": ["web", "mobile"],
             "lead_time_days": 2} for code in dc_codes])
        _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="bench-admin", role="admin")
    finally:
        runtime.close()
    return skus, store_codes, dc_codes, token


# --- realistic event streams --------------------------------------------------------------

class EventStream:
    """One producer's stock events, batch after batch: 45% sales, 40% receipts, 10%
    reservations (of positions this producer has received into) and 5% releases (of its
    reservations from earlier batches). Event and reservation ids carry TOKEN, so a body
    can be copied with fresh ids by replacing it."""

    def __init__(self, name: str, skus: Sequence[str], locations: Sequence[str], seed: int):
        self.name = name
        self.skus = skus
        self.locations = locations
        self.rng = random.Random(seed)
        self.stocked: list[tuple[str, str]] = []
        self.open: list[tuple[str, str, str]] = []
        self.index = 0

    def _position(self) -> tuple[str, str]:
        return self.rng.choice(self.skus), self.rng.choice(self.locations)

    def _remember(self, position: tuple[str, str]) -> None:
        if len(self.stocked) < 50_000:
            self.stocked.append(position)
        else:
            self.stocked[self.rng.randrange(len(self.stocked))] = position

    def batch(self, size: int) -> list[dict[str, Any]]:
        rng = self.rng
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        occurred = (now - dt.timedelta(seconds=rng.randint(1, 300))).isoformat()
        expires = (now + dt.timedelta(hours=2)).isoformat()
        events: list[dict[str, Any]] = []
        opened: list[tuple[str, str, str]] = []
        for i in range(size):
            event_id = f"{TOKEN}{self.name}-{self.index}-{i}"
            r = rng.random()
            if r < 0.05 and self.open:
                rid, sku, location = self.open.pop(rng.randrange(len(self.open)))
                events.append({"event_id": event_id, "sku": sku, "location": location, "type": "release",
                               "reservation_id": rid, "occurred_at": occurred})
            elif r < 0.15 and self.stocked:
                sku, location = rng.choice(self.stocked)
                rid = f"{event_id}-r"
                events.append({"event_id": event_id, "sku": sku, "location": location, "type": "reserve",
                               "quantity": rng.randint(1, 2), "reservation_id": rid, "expires_at": expires,
                               "occurred_at": occurred})
                opened.append((rid, sku, location))
            elif r < 0.55:
                sku, location = self._position()
                events.append({"event_id": event_id, "sku": sku, "location": location, "type": "receipt",
                               "quantity": rng.randint(5, 50), "occurred_at": occurred})
                self._remember((sku, location))
            else:
                sku, location = (rng.choice(self.stocked) if self.stocked and rng.random() < 0.8
                                 else self._position())
                events.append({"event_id": event_id, "sku": sku, "location": location, "type": "sale",
                               "quantity": rng.randint(1, 3), "occurred_at": occurred})
        self.open.extend(opened)
        self.index += 1
        return events

    def bodies(self, count: int, size: int) -> list[bytes]:
        return [json.dumps({"events": self.batch(size)}, separators=(",", ":")).encode() for _ in range(count)]


def fresh_copy(body: bytes, round_: int) -> bytes:
    return body.replace(TOKEN.encode(), f"t{round_:05d}-".encode())


# --- gunicorn -----------------------------------------------------------------------------

def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROMO_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    # The workers' start-up audience warm-up (seconds of CPU each) would overlap the first
    # measurements; these benchmarks measure serving once started.
    env["PROMO_AUDIENCE_WARM_UP"] = "0"
    env.update(extra)
    return env


@contextlib.contextmanager
def gunicorn(args: list[str], env: dict[str, str], port: int, ready_path: str, log_path: Path) -> Iterator[int]:
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", *args], env=env, cwd=ROOT,
                                   stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", ready_path)
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn not ready after 90 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def promo_server(url: str, tmp: Path) -> Iterator[int]:
    port = free_port()
    metrics = tmp / f"metrics-{port}"
    metrics.mkdir()
    env = clean_env(PROMO_DATABASE_URL=url, PROMO_BIND=f"127.0.0.1:{port}", PROMO_ENV="test",
                    PROMO_LOG_LEVEL="WARNING", PROMETHEUS_MULTIPROC_DIR=str(metrics))
    with gunicorn(["-c", "config/gunicorn.conf.py"], env, port, "/readyz", tmp / f"promo-{port}.log") as p:
        yield p
    shutil.rmtree(metrics, ignore_errors=True)


@contextlib.contextmanager
def bare_server(tmp: Path) -> Iterator[int]:
    port = free_port()
    args = ["-w", "2", "-b", f"127.0.0.1:{port}", "--pythonpath", str(ROOT / "bench"), "bare_app:app"]
    with gunicorn(args, clean_env(), port, "/healthz", tmp / f"bare-{port}.log") as p:
        yield p


# --- HTTP clients -------------------------------------------------------------------------

@dataclasses.dataclass
class PostResult:
    seconds: float
    batches: int
    events: int
    accepted: int
    failures: int
    latencies: list[float]


def post_batches(port: int, path: str, headers: dict[str, str], per_thread: list[list[bytes]],
                 sizes: list[list[int]], count_key: str) -> PostResult:
    """Each client thread posts its bodies in order on a keep-alive connection; the clock
    runs from the moment all threads start to the moment the last one finishes."""
    lock = threading.Lock()
    totals = {"batches": 0, "events": 0, "accepted": 0, "failures": 0}
    latencies: list[float] = []
    barrier = threading.Barrier(len(per_thread) + 1)
    failures: list[str] = []

    def client(bodies: list[bytes], counts: list[int]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        mine = {"batches": 0, "events": 0, "accepted": 0, "failures": 0}
        took: list[float] = []
        barrier.wait()
        for body, count in zip(bodies, counts):
            started = time.perf_counter()
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            data = response.read()
            took.append(time.perf_counter() - started)
            if response.status == 200:
                mine["batches"] += 1
                mine["events"] += count
                mine["accepted"] += json.loads(data)[count_key]
            else:
                mine["failures"] += 1
                if len(failures) < 3:
                    failures.append(f"{response.status}: {data[:300]!r}")
        connection.close()
        with lock:
            for key, value in mine.items():
                totals[key] += value
            latencies.extend(took)

    threads = [threading.Thread(target=client, args=(b, c)) for b, c in zip(per_thread, sizes)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    for failure in failures:
        log(f"  a batch failed: {failure}")
    return PostResult(seconds, totals["batches"], totals["events"], totals["accepted"], totals["failures"],
                      latencies)


class Loader(threading.Thread):
    """Keeps posting batches (fresh copies of the given bodies) until stopped."""

    def __init__(self, port: int, headers: dict[str, str], bodies: list[bytes], batch_size: int, first_round: int):
        super().__init__(daemon=True)
        self.port, self.headers, self.bodies, self.batch_size = port, headers, bodies, batch_size
        self.round = first_round
        self.events = 0
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        while not self.stop.is_set():
            for body in self.bodies:
                if self.stop.is_set():
                    break
                connection.request("POST", "/v1/stock/events", fresh_copy(body, self.round), self.headers)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    self.events += self.batch_size
                else:
                    self.failures += 1
            self.round += 1
        connection.close()


def timed_gets(port: int, paths: list[str], headers: dict[str, str], readers: int, seconds: float
               ) -> tuple[dict[str, list[float]], int]:
    """``readers`` threads GET the paths in turn for ``seconds``; (latencies by endpoint, non-200 count)."""
    latencies: dict[str, list[float]] = {}
    bad = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def reader(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        took: dict[str, list[float]] = {}
        errors = 0
        i = offset
        while time.perf_counter() < deadline:
            path = paths[i % len(paths)]
            i += 1
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            took.setdefault(path.split("?")[0].split("/")[2 if path.startswith("/v1/") else 1], []).append(
                time.perf_counter() - started)
            if response.status != 200:
                errors += 1
        connection.close()
        with lock:
            for endpoint, values in took.items():
                latencies.setdefault(endpoint, []).extend(values)
            bad[0] += errors

    threads = [threading.Thread(target=reader, args=(n * 7919,)) for n in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, bad[0]


# --- part 1 and 2: ingest and reads over HTTP -----------------------------------------------

def run_http_parts(parts: set[str], dbs: Databases, tmp: Path, opts: argparse.Namespace, report: Report) -> None:
    with dbs.fresh("http") as url:
        log("http: migrating and seeding the catalog")
        migrate(url)
        skus, stores, dcs, token = seed_catalog(url, opts.products, opts.stores, opts.warehouses)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        streams = [EventStream(f"c{n}", skus, stores + dcs, seed=n) for n in range(opts.clients)]
        with promo_server(url, tmp) as port:
            if "ingest" in parts:
                run_ingest(port, headers, streams, tmp, opts, dbs.kind, report)
            if "read" in parts:
                run_reads(port, headers, streams, stores, skus, opts, report)


def _combine(results: list[PostResult]) -> PostResult:
    return PostResult(sum(r.seconds for r in results), sum(r.batches for r in results),
                      sum(r.events for r in results), sum(r.accepted for r in results),
                      sum(r.failures for r in results), [t for r in results for t in r.latencies])


def run_ingest(port: int, headers: dict[str, str], streams: list[EventStream], tmp: Path,
               opts: argparse.Namespace, kind: str, report: Report) -> None:
    """promo and the bare app take turns, round after round, so that both figures are
    measured under the same (shared, noisy) machine conditions."""
    batch_size, rounds = opts.batch_size, opts.rounds
    per_round = max(1, -(-opts.batches // (opts.clients * rounds)))
    warm = [s.bodies(2, batch_size) for s in streams]
    log(f"ingest: encoding {per_round * rounds * opts.clients} batches of {batch_size} events")
    bodies = [[s.bodies(per_round, batch_size) for _ in range(rounds)] for s in streams]   # [thread][round]
    # The bare app is so much faster that one pass would be over in a blink: it gets the
    # same bodies several times over, so that its figure is measured over seconds too.
    repeat = opts.bare_repeat
    promo_runs, bare_runs = [], []
    with bare_server(tmp) as bare_port:
        post_batches(bare_port, "/ingest", headers, warm, [[batch_size] * 2] * len(warm), "items")
        post_batches(port, "/v1/stock/events", headers, warm, [[batch_size] * 2] * len(warm), "accepted")
        for r in range(rounds):
            log(f"ingest: round {r + 1}/{rounds}: promo, then the same requests ({repeat} times over) "
                f"to bench/bare_app.py; {opts.clients} client threads")
            chunk = [b[r] for b in bodies]
            sizes = [[batch_size] * len(c) for c in chunk]
            promo_runs.append(post_batches(port, "/v1/stock/events", headers, chunk, sizes, "accepted"))
            bare_runs.append(post_batches(bare_port, "/ingest", headers, [c * repeat for c in chunk],
                                          [z * repeat for z in sizes], "items"))
    promo, bare = _combine(promo_runs), _combine(bare_runs)
    promo_rate, bare_rate = promo.events / promo.seconds, bare.events / bare.seconds
    per_round_rates = ", ".join(f"{r.events / r.seconds:,.0f}" for r in promo_runs)
    met = promo_rate >= INGEST_GOAL if kind == "sqlite" else None
    goal = f">= {INGEST_GOAL:,}/s" + ("" if kind == "sqlite" else " (for SQLite)")
    print(f"ingest over HTTP ({promo.batches} batches of {batch_size}, {opts.clients} clients, "
          f"2 gunicorn workers, {rounds} rounds: {per_round_rates} events/s):")
    report.add("ingest", "events/s (promo)", f"{promo_rate:,.0f}", goal, met, f"{promo_rate / bare_rate:.3f}x bare app")
    report.add("ingest", "events/s (bare Flask baseline)", f"{bare_rate:,.0f}")
    report.add("ingest", "batch latency p50 / p99 (ms)",
               f"{percentile(promo.latencies, 50) * 1e3:.0f} / {percentile(promo.latencies, 99) * 1e3:.0f}",
               baseline=f"bare {percentile(bare.latencies, 50) * 1e3:.0f} / "
                        f"{percentile(bare.latencies, 99) * 1e3:.0f}")
    report.add("ingest", "events accepted (not refused)", f"{promo.accepted / max(promo.events, 1):.1%}",
               baseline=f"{promo.failures} failed batches" if promo.failures else "")
    if promo.failures or bare.failures:
        log(f"ingest: {promo.failures} promo and {bare.failures} bare batches failed")


def run_instances(dbs: Databases, tmp: Path, opts: argparse.Namespace, report: Report) -> None:
    """Stock ingest with 1..--max-instances instances on one PostgreSQL database."""
    if dbs.kind != "postgresql":
        log("instances: PostgreSQL only (--url); skipped")
        return
    rates: dict[int, float] = {}
    for count in range(1, opts.max_instances + 1):
        with dbs.fresh(f"instances{count}") as url, contextlib.ExitStack() as servers:
            migrate(url)
            skus, stores, dcs, token = seed_catalog(url, opts.products, opts.stores, opts.warehouses)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            ports = [servers.enter_context(promo_server(url, tmp)) for _ in range(count)]
            clients = opts.instance_clients * count
            streams = [EventStream(f"i{count}-{n}", skus, stores + dcs, seed=n) for n in range(clients)]
            per_thread = max(1, -(-opts.batches // clients))
            warm = [s.bodies(2, opts.batch_size) for s in streams]
            bodies = [s.bodies(per_thread, opts.batch_size) for s in streams]
            log(f"instances: {count} instance(s), {clients} client threads, {per_thread * clients} batches")
            results: list[PostResult] = []

            def drive(index: int, chosen: list[int]) -> None:
                port = ports[index]
                post_batches(port, "/v1/stock/events", headers, [warm[i] for i in chosen],
                             [[opts.batch_size] * 2] * len(chosen), "accepted")
                results.append(post_batches(port, "/v1/stock/events", headers, [bodies[i] for i in chosen],
                                            [[opts.batch_size] * per_thread] * len(chosen), "accepted"))

            spread = [list(range(i, clients, count)) for i in range(count)]
            threads = [threading.Thread(target=drive, args=(i, spread[i])) for i in range(count)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.perf_counter() - started
            events = sum(r.events for r in results)
            failures = sum(r.failures for r in results)
            rates[count] = events / seconds
            latencies = [t for r in results for t in r.latencies]
            report.add("instances", f"{count} instance(s): events/s", f"{rates[count]:,.0f}",
                       baseline=f"{rates[count] / rates[1]:.2f}x one instance; batch p50 / p99 "
                                f"{percentile(latencies, 50) * 1e3:.0f} / {percentile(latencies, 99) * 1e3:.0f} ms"
                                + (f"; {failures} failed batches" if failures else ""))
    best = max(rates, key=rates.__getitem__)
    report.add("instances", "tops out at", f"{rates[best]:,.0f} events/s with {best} instance(s)")


def run_reads(port: int, headers: dict[str, str], streams: list[EventStream], stores: list[str],
              skus: list[str], opts: argparse.Namespace, report: Report) -> None:
    rng = random.Random(7)
    loader_stream = EventStream("load", skus, streams[0].locations, seed=99)
    if not any(s.stocked for s in streams):   # no ingest part ran: put some stock in first
        log("read: preloading some stock")
        preload = EventStream("pre", skus, streams[0].locations, seed=98)
        post_batches(port, "/v1/stock/events", headers, [preload.bodies(10, opts.batch_size)],
                     [[opts.batch_size] * 10], "accepted")
        streams = [preload]
    stocked = [p for s in streams for p in s.stocked] or [(skus[0], stores[0])]
    paths = []
    for _ in range(4000):
        sku, location = rng.choice(stocked)
        if location not in stores:
            location = rng.choice(stores)
        paths.append(f"/v1/availability?sku={sku}&channel=store&location={location}&quantity=1")
        paths.append(f"/v1/products/{rng.choice(stocked)[0]}/stock")
    log(f"read: encoding the load, then {opts.read_seconds:g} s of stock reads and {opts.read_seconds:g} s "
        f"of /healthz in {opts.rounds} turns each, {opts.readers} reader threads, 1 ingest thread")
    loader = Loader(port, headers, loader_stream.bodies(opts.loader_bodies, opts.batch_size), opts.batch_size, 1)
    loader.start()
    time.sleep(0.5)
    # Stock reads and /healthz take turns (rounds of both), under the same ingest load.
    windows: dict[str, tuple[dict[str, list[float]], int, float, int]] = {
        "stock": ({}, 0, 0.0, 0), "healthz": ({}, 0, 0.0, 0)}
    for _ in range(opts.rounds):
        for name, target, hdrs in (("stock", paths, headers), ("healthz", ["/healthz"], {})):
            before, started = loader.events, time.perf_counter()
            latencies, bad = timed_gets(port, target, hdrs, opts.readers, opts.read_seconds / opts.rounds)
            seconds = time.perf_counter() - started
            seen, bad_so_far, seconds_so_far, load_so_far = windows[name]
            for endpoint, values in latencies.items():
                seen.setdefault(endpoint, []).extend(values)
            windows[name] = (seen, bad_so_far + bad, seconds_so_far + seconds, load_so_far + loader.events - before)
    loader.stop.set()
    loader.join()
    by_endpoint, stock_bad, stock_s, stock_events = windows["stock"]
    health, health_bad, health_s, health_events = windows["healthz"]
    stock_load, health_load = stock_events / stock_s, health_events / health_s
    health_lat = health.get("healthz", [])
    stock_lat = [t for values in by_endpoint.values() for t in values]
    h50, h99 = percentile(health_lat, 50) * 1e3, percentile(health_lat, 99) * 1e3
    print(f"reads under ingest load ({opts.readers} readers, availability and stock/<sku> alternating; "
          f"then /healthz under the same load):")
    for label, values in (("availability", by_endpoint.get("availability", [])),
                          ("stock/<sku>", by_endpoint.get("stock", [])), ("both", stock_lat)):
        p50, p99 = percentile(values, 50) * 1e3, percentile(values, 99) * 1e3
        report.add("read", f"{label} p50 / p99 (ms)", f"{p50:.1f} / {p99:.1f}",
                   baseline=f"{p50 / h50:.2f}x / {p99 / h99:.2f}x /healthz")
    report.add("read", "/healthz p50 / p99 (ms) (baseline)", f"{h50:.1f} / {h99:.1f}")
    report.add("read", "stock reads/s", f"{len(stock_lat) / stock_s:,.0f}",
               baseline=f"/healthz {len(health_lat) / health_s:,.0f}/s")
    report.add("read", "ingest load meanwhile (events/s)", f"{stock_load:,.0f}",
               baseline=f"{health_load:,.0f} during /healthz")
    if stock_bad or health_bad or loader.failures:
        log(f"read: {stock_bad} stock reads, {health_bad} healthz and {loader.failures} load batches failed")


# --- part 3: memory and snapshot load -----------------------------------------------------

def fill_positions(url: str, positions: int, locations: int = 100) -> tuple[int, float]:
    """products x locations positions, straight into the tables; (positions, seconds)."""
    products = -(-positions // locations)
    started = time.perf_counter()
    if url.startswith("sqlite"):
        import sqlite3

        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        connection.execute("BEGIN")
        stamp = "2026-01-01 00:00:00.000000"
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO products (id, sku, name, category, brand, price, currency, attributes, updated_at) "
            "SELECT i, printf('m%07d', i), 'Product ' || i, 'CAT' || (i % 40), NULL, 1.5, 'USD', '{}', ? FROM n",
            (products, stamp))
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO locations (id, code, name, kind, channels, lead_time_days, region, updated_at) "
            "SELECT i, printf('L%03d', i), 'Store ' || i, 'store', '[\"store\"]', 0, NULL, ? FROM n",
            (locations, stamp))
        connection.execute(
            "INSERT INTO stock_positions (product_id, location_id, on_hand, reserved, safety_stock, inbound, last_seq) "
            "SELECT p.id, l.id, abs(random() % 200), abs(random() % 3), 0, 0, 0 "
            "FROM products p CROSS JOIN locations l WHERE p.id <= ? ORDER BY p.id, l.id LIMIT ?",
            (products, positions))
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as connection:
            with connection.transaction():
                try:
                    with connection.transaction():
                        connection.execute("SET LOCAL session_replication_role = replica")   # no FK triggers
                except psycopg.Error:
                    pass
                connection.execute(
                    "INSERT INTO products (id, sku, name, category, brand, price, currency, attributes, updated_at) "
                    "SELECT i, 'm' || lpad(i::text, 7, '0'), 'Product ' || i, 'CAT' || (i %% 40), NULL, 1.5, 'USD', "
                    "'{}'::json, now() FROM generate_series(1, %s) i", (products,))
                connection.execute(
                    "INSERT INTO locations (id, code, name, kind, channels, lead_time_days, region, updated_at) "
                    "SELECT i, 'L' || lpad(i::text, 3, '0'), 'Store ' || i, 'store', '[\"store\"]'::json, 0, NULL, "
                    "now() FROM generate_series(1, %s) i", (locations,))
                connection.execute(
                    "INSERT INTO stock_positions (product_id, location_id, on_hand, reserved, safety_stock, inbound, "
                    "last_seq) SELECT p, l, (random() * 200)::int, (random() * 2)::int, 0, 0, 0 "
                    # LATERAL (on p) keeps products outermost: rows arrive in key order.
                    "FROM generate_series(1, %s) p, LATERAL generate_series(1, %s + 0 * p) l "
                    "WHERE (p - 1) * %s + l <= %s",
                    (products, locations, locations, positions))
            connection.execute("ANALYZE stock_positions")
    return positions, time.perf_counter() - started


def _snapshot_child(url: str, queue: Any) -> None:
    """In a fresh process: load the snapshot as a worker would, measuring time and memory."""
    from sqlalchemy import text

    from promo.bootstrap import bootstrap

    runtime = bootstrap(promo_settings(url))
    with runtime.engine.connect() as connection:       # the driver and pool are warm, not counted
        connection.execute(text("SELECT count(*) FROM stock_sequence"))
    view = runtime.stock.view
    rss_before = proc_status("VmRSS")
    peak_ok = reset_peak_rss()
    started = time.perf_counter()
    runtime.stock.follower.load_snapshot()
    seconds = time.perf_counter() - started
    rss_after = proc_status("VmRSS")
    peak = proc_status("VmHWM")
    size, nbytes = view.size(), view.nbytes()

    # Baseline 1: the same rows fetched with the bare driver, nothing kept.
    raw = runtime.engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        cursor.execute("SELECT product_id, location_id, on_hand, reserved, safety_stock, inbound "
                       "FROM stock_positions ORDER BY product_id, location_id")
        fetched = 0
        while True:
            batch = cursor.fetchmany(200_000)
            if not batch:
                break
            fetched += len(batch)
        fetch_seconds = time.perf_counter() - started
    finally:
        raw.close()
    # Baseline 2: a numpy sort of the keys, shuffled (synthetic keys if the view hides them).
    rng = np.random.default_rng(1)
    keys = getattr(view, "_keys", None)
    if not isinstance(keys, np.ndarray) or len(keys) != size:
        keys = (rng.integers(1, 1 << 20, size) << 24) | rng.integers(1, 101, size)
    keys = np.array(keys, dtype=np.int64, copy=True)
    rng.shuffle(keys)
    started = time.perf_counter()
    np.sort(keys)
    sort_seconds = time.perf_counter() - started
    runtime.close()
    queue.put({"size": size, "nbytes": nbytes, "seconds": seconds, "rss_growth": rss_after - rss_before,
               "peak_growth": peak - rss_before if peak_ok else None, "fetched": fetched,
               "fetch_seconds": fetch_seconds, "sort_seconds": sort_seconds})


def run_memory(dbs: Databases, opts: argparse.Namespace, report: Report) -> None:
    print("memory and snapshot load (a fresh process per size):")
    for positions in opts.positions:
        with dbs.fresh(f"memory{positions}") as url:
            migrate(url)
            log(f"memory: filling {positions:,} positions with SQL")
            _, fill_seconds = fill_positions(url, positions)
            log(f"memory: filled in {fill_seconds:.1f} s; loading the snapshot in a fresh process")
            context = multiprocessing.get_context("spawn")
            queue = context.Queue()
            child = context.Process(target=_snapshot_child, args=(url, queue))
            child.start()
            result = from_child(child, queue, 1800)
            child.join()
        n = result["size"]
        label = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"
        per = result["nbytes"] / n
        rate = n / result["seconds"]
        report.add("memory", f"{label}: view bytes/position", f"{per:.1f}", f"<= {BYTES_GOAL}", per <= BYTES_GOAL)
        report.add("memory", f"{label}: snapshot load (positions/s)", f"{rate:,.0f}", f">= {LOAD_GOAL:,}/s",
                   rate >= LOAD_GOAL,
                   f"{result['seconds'] / result['fetch_seconds']:.2f}x bare driver fetch, "
                   f"{result['seconds'] / result['sort_seconds']:.1f}x numpy sort")
        report.add("memory", f"{label}: load time (s)", f"{result['seconds']:.2f}",
                   baseline=f"fetch {result['fetch_seconds']:.2f} s, sort {result['sort_seconds']:.2f} s")
        report.add("memory", f"{label}: RSS growth/position (B)", f"{result['rss_growth'] / n:.1f}",
                   baseline="retained after load")
        if result["peak_growth"] is not None:
            report.add("memory", f"{label}: peak RSS growth/position (B)", f"{result['peak_growth'] / n:.1f}",
                       baseline=f"during load: {result['peak_growth'] / 2**20:,.0f} MB")


# --- part 4: propagation between processes ------------------------------------------------

def _writer_child(url: str, skus: list[str], locations: list[str], batches: int, queue: Any) -> None:
    """Another process: ingests a small batch every 10-30 ms and reports, per batch, its
    last sequence number and the wall-clock time right after its commit."""
    from promo.bootstrap import bootstrap
    from promo.services.stock import ingest_events
    from promo.services.unit_of_work import UnitOfWork

    class TimedUnitOfWork(UnitOfWork):
        committed_at = 0.0

        def commit(self) -> None:
            super().commit()
            self.committed_at = time.time()

    runtime = bootstrap(promo_settings(url))
    rng = random.Random(5)
    queue.put("ready")
    results = []
    for b in range(batches):
        now = dt.datetime.now(dt.timezone.utc)
        events = [{"event_id": f"prop-{b}-{i}", "sku": rng.choice(skus), "location": rng.choice(locations),
                   "type": "receipt" if rng.random() < 0.5 else "sale", "quantity": rng.randint(1, 5),
                   "occurred_at": now, "reason": None, "reservation_id": None, "expires_at": None, "eta": None}
                  for i in range(rng.randint(1, 5))]
        uow = TimedUnitOfWork(runtime.session_factory, write=True)
        result = ingest_events(uow, runtime.stock, events)
        results.append((result["last_seq"], uow.committed_at))
        time.sleep(rng.uniform(0.010, 0.030))
    runtime.close()
    queue.put(results)


def run_propagation(dbs: Databases, opts: argparse.Namespace, report: Report) -> None:
    from promo.bootstrap import bootstrap

    warm = 10
    with dbs.fresh("propagation") as url:
        migrate(url)
        skus, stores, dcs, _ = seed_catalog(url, 200, 5, 1)
        settings = promo_settings(url)
        runtime = bootstrap(settings, follow_stock=True)      # "the other worker"
        view = runtime.stock.view
        seen: dict[int, float] = {}
        done = threading.Event()

        def watch() -> None:
            last = view.as_of_seq
            while not done.is_set():
                current = view.as_of_seq
                if current > last:
                    now = time.time()
                    for seq in range(last + 1, current + 1):
                        seen[seq] = now
                    last = current
                time.sleep(0.0005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        log(f"propagation: a writer process ingests {opts.propagation} small batches, one every 10-30 ms")
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=_writer_child,
                                args=(url, skus, stores + dcs, opts.propagation + warm, queue))
        child.start()
        assert from_child(child, queue, 120) == "ready"
        results = from_child(child, queue, 600)
        child.join()
        deadline = time.monotonic() + 5
        while results and view.as_of_seq < results[-1][0] and time.monotonic() < deadline:
            time.sleep(0.01)
        done.set()
        watcher.join()
        runtime.close()
    delays = [seen[seq] - committed for seq, committed in results[warm:] if seq in seen]
    missing = len(results) - warm - len(delays)
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    goal = PROPAGATION_GOAL[dbs.kind]
    poll = settings.stock_poll_interval_ms / 1000
    print(f"propagation, commit in one process -> visible in another's view ({len(delays)} batches):")
    report.add("propagation", "p50 / p99 (ms)", f"{p50 * 1e3:.1f} / {p99 * 1e3:.1f}", f"p99 < {goal * 1e3:.0f} ms",
               p99 < goal, f"p99 = {p99 / poll:.2f}x the {poll * 1e3:.0f} ms poll interval")
    report.add("propagation", "max (ms)", f"{max(delays) * 1e3:.1f}" if delays else "-",
               baseline=f"{missing} never seen" if missing else "")


# --- main ---------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--url", help="a PostgreSQL URL (fresh databases are created beside it); "
                                      "default: SQLite files in a temporary directory")
    parser.add_argument("--only", default=",".join(DEFAULT_PARTS),
                        help=f"comma-separated parts: {', '.join(PARTS)} (default: all but instances)")
    parser.add_argument("--positions", help="memory part sizes, comma-separated (default 1000000,10000000)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in well under a minute")
    parser.add_argument("--batches", type=int, help="ingest batches, rounded up to whole rounds (default 200; quick 20)")
    parser.add_argument("--rounds", type=int, help="ingest rounds, promo and bare app taking turns "
                                                   "(default 4; quick 2)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4, help="ingest client threads (default 4)")
    parser.add_argument("--products", type=int, help="products for ingest/read (default 20000; quick 5000)")
    parser.add_argument("--stores", type=int, default=45)
    parser.add_argument("--warehouses", type=int, default=5)
    parser.add_argument("--read-seconds", type=float, help="seconds of stock reads, and as many of /healthz, in --rounds turns (default 10; quick 2)")
    parser.add_argument("--readers", type=int, default=2, help="reader threads (default 2)")
    parser.add_argument("--propagation", type=int, help="events measured for propagation (default 200; quick 40)")
    parser.add_argument("--tmpdir", help="where SQLite files and logs go (default: the system temp directory)")
    parser.add_argument("--max-instances", type=int, default=3, help="instances part: up to this many (default 3)")
    parser.add_argument("--instance-clients", type=int, default=4,
                        help="instances part: client threads per instance (default 4)")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))} (choose from {', '.join(PARTS)})")
    if args.url and not args.url.startswith("postgresql"):
        parser.error("--url must be a postgresql:// URL (SQLite is the default)")
    quick = args.quick
    args.batches = args.batches or (20 if quick else 200)
    args.products = args.products or (5000 if quick else 20000)
    args.read_seconds = args.read_seconds or (2.0 if quick else 10.0)
    args.propagation = args.propagation or (40 if quick else 200)
    args.loader_bodies = 10 if quick else 40
    args.bare_repeat = 3 if quick else 5
    args.rounds = max(1, args.rounds or (2 if quick else 4))
    sizes = args.positions or ("100000" if quick else "1000000,10000000")
    args.positions = [int(float(s)) for s in sizes.split(",") if s.strip()]
    args.clients = max(1, args.clients)
    return args


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    dbs_kind = "postgresql" if opts.url else "sqlite"
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    started = time.perf_counter()
    load_before = os.getloadavg()
    report = Report()
    durable = durability(opts.url)
    print(f"promo stock benchmark: {dbs_kind} ({durable}); {os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.1f} at start; parts: {', '.join(opts.parts)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="promo-bench-", dir=opts.tmpdir) as tmp_name:
        tmp = Path(tmp_name)
        dbs = Databases(opts.url, tmp)
        if {"ingest", "read"} & set(opts.parts):
            run_http_parts(set(opts.parts), dbs, tmp, opts, report)
        if "memory" in opts.parts:
            run_memory(dbs, opts, report)
        if "propagation" in opts.parts:
            run_propagation(dbs, opts, report)
        if "instances" in opts.parts:
            run_instances(dbs, tmp, opts, report)
    load_after = os.getloadavg()
    print()
    print(f"summary: {dbs_kind} ({durable}); {time.perf_counter() - started:.0f} s; load average "
          f"{load_before[0]:.1f} at start, {load_after[0]:.1f} at end, {os.cpu_count()} CPUs")
    print(f"command: {hide_password(command)}")
    print(report.table())


if __name__ == "__main__":
    main()
