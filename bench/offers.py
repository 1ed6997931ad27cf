"""Benchmark: serving offers, deals and recommendations over HTTP, and how fast a stock-out reaches them.

    .venv/bin/python bench/offers.py                         # the demo of `make run` (var/promo.db), copied
    .venv/bin/python bench/offers.py --quick                 # a smoke run (about a minute)
    .venv/bin/python bench/offers.py --url sqlite:////tmp/demo/promo.db --model-dir /tmp/demo/models
    .venv/bin/python bench/offers.py --only offers,propagation --seconds 20 --rounds 5

Needs wrk (`apt-get install -y wrk`, or `make bench-tools`). SQLite only.

Set-up. The demo database (--url, default var/promo.db, which `make run` leaves) is
COPIED into a temporary directory (the original is never written; if it does not exist,
the demo is loaded and trained there, about two minutes) and migrated. On the copy,
through the service layer in this process, --campaigns (50) campaigns are created and
activated (with an override reason, so that the stock check cannot refuse them): for
everyone or for profile segments, on web, mobile and store, with products in stock at
the stores where the demo households buy, varied discounts, a third with 10% held out,
some with a priority, a few exclusive. A channel key and an inventory key are created.
Households are the demo customers, each at their usual store (the store where they
bought most), kept if that store holds a few promoted products.

promo (config/gunicorn.conf.py, 2 workers, PROMO_EXPOSE_WORKER_ID=1) and the baseline,
bench/bare_app.py (a minimal Flask JSON endpoint: GET on the same paths answers a list
of 10 offer-shaped items without any work; --baseline healthz uses GET /healthz
instead), are served the same way by gunicorn with 2 workers. wrk loads them with
`wrk --latency -t2 -c16 -d<seconds>s` and a generated Lua script that picks a random
household per request and sends `Authorization: Bearer <channel key>`. The figures are
of the steady state: a worker starts by resolving every live campaign's audience in the
background and computes each customer's affinity on their first request, then keeps it,
so promo first gets every measured path twice (--warm-passes), in a random order, from
16 client threads, then wrk bursts of every measured request, mixed, until one burst's
rate is within 10% of the one before (10-120 s, --settle, --settle-max); the rates of
the first and last tenth of the warm-up and of the first and last bursts are shown.
Then, line by line, after a short warm-up of each, promo and the bare app take turns
over --rounds rounds of --seconds each; the figures are the medians over the rounds (the
ratio: the median of each round's ratio). The server logs at INFO, as `make serve` does
(--log-level).

  offers           GET /v1/customers/{id}/offers?channel=store&location={store}&limit=10,
                   and channel=web without a location (a second line). Goals:
                   throughput >= 0.5x the bare app's, p99 < 25 ms at 16 connections,
                   no answer but 2xx.
  deals            GET /v1/deals?channel=mobile&location={store}&limit=10&customer={id};
                   the same goals.
  recommendations  GET /v1/customers/{id}/recommendations?channel=store&location={store}&limit=10;
                   the same goals (the issue asks for the same figures).
  carts            POST /v1/carts/evaluate of a 20-line cart (no codes) at the household's
                   usual store: about half the lines promoted products in stock there,
                   the rest other products in stock there, 1-3 units each, catalog prices.
                   Goal (issue 14): p99 < 25 ms with the 50 campaigns live; the
                   throughput against the bare app (which parses the body and answers a
                   cart-shaped JSON) is shown, not a goal.
  propagation      a stock event (a sale of every unit on hand, POST /v1/stock/events)
                   that empties a product offered to a household at its store, to the
                   first offer list without it (or with it out of stock) from EVERY
                   worker (told apart by the X-Promo-Worker header), polled by client
                   threads; --propagation products, each restocked afterwards. Goal
                   (SQLite): p99 < 250 ms. Baseline: the stock view's poll interval.

Exit status: 0 when every request was answered 2xx and every emptied product left every
worker's offers (goals met or not: read the table), 1 otherwise, 2 without wrk.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime as dt
import http.client
import json
import os
import random
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from stock import Report, bare_server, clean_env, free_port, gunicorn, log, percentile  # bench/stock.py

ROOT = Path(__file__).resolve().parent.parent
PROMO = str(Path(sys.executable).parent / "promo")
PARTS = ("offers", "deals", "recommendations", "carts", "propagation")
CART_LINES = 20                  # lines per evaluated cart
DEFAULT_URL = f"sqlite:///{ROOT}/var/promo.db"      # where `make run` leaves the demo
RATIO_GOAL = 0.5                 # promo throughput / bare app throughput
P99_GOAL_MS = 25.0               # at 16 connections
PROPAGATION_GOAL_MS = 250.0      # p99, SQLite
WORKERS = 2
WORKER_HEADER = "X-Promo-Worker"
SEGMENT_CHOICES = (["loyal"], ["lapsing"], ["big_basket"], ["coupon_user"], ["loyal", "big_basket"],
                   ["new", "lapsing"])


class BenchError(Exception):
    """Something is wrong (not merely slow): the bench stops and exits 1 with this message."""


# --- the database: a copy of the demo --------------------------------------------------------

def sqlite_file(url: str) -> Path:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise BenchError(f"--url must name a SQLite file (this bench copies it), not {url!r}")
    return Path(parsed.database).resolve()


def run_promo(args: list[str], url: str, model_dir: str) -> None:
    env = {"PROMO_DATABASE_URL": url, "PROMO_MODEL_DIR": model_dir, "PROMO_LOG_LEVEL": "WARNING",
           "PATH": "/usr/bin:/bin"}
    if subprocess.run([PROMO, *args], env=env, cwd=ROOT).returncode != 0:
        raise BenchError(f"`promo {shlex.join(args)}` failed (its output is above)")


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's backup API (the WAL included); the source is
    opened read-only, so nothing of it changes."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def default_model_dir(database: Path) -> Path:
    """The models next to a demo database: <dir>/models, else <dir>/../models (make run's
    var/promo.db and models/)."""
    for candidate in (database.parent / "models", database.parent.parent / "models"):
        if candidate.is_dir():
            return candidate
    return database.parent / "models"


def missing_models(url: str, model_dir: Path) -> list[str]:
    """Active model versions (or kinds) that model_dir does not hold."""
    connection = sqlite3.connect(f"file:{sqlite_file(url)}?mode=ro", uri=True)
    try:
        active = dict(connection.execute("SELECT name, version FROM active_models").fetchall())
    finally:
        connection.close()
    missing = [f"{name} (none active)" for name in ("recommender", "response") if name not in active]
    missing += [f"{name} {version}" for name, version in active.items()
                if not (model_dir / name / version / "metadata.json").exists()]
    return missing


def prepare_database(opts: argparse.Namespace, tmp: Path) -> tuple[str, str]:
    """(URL of a migrated copy of the demo, model dir); loads and trains one if needed."""
    from stock import migrate

    source = sqlite_file(opts.url)
    copy = tmp / "promo.db"
    url = f"sqlite:///{copy}"
    if source.exists():
        started = time.perf_counter()
        copy_database(source, copy)
        log(f"set-up: copied {source} ({copy.stat().st_size / 2**20:,.0f} MB) in {time.perf_counter() - started:.1f} s")
        model_dir = Path(opts.model_dir).resolve() if opts.model_dir else default_model_dir(source)
    else:
        log(f"set-up: no database at {source}: loading the demo into a temporary one (about a minute)")
        run_promo(["db", "upgrade"], url, str(tmp / "models"))
        run_promo(["demo", "load", "--quiet"], url, str(tmp / "models"))
        model_dir = tmp / "models"
    migrate(url)           # the copy may predate the code's migrations
    missing = missing_models(url, model_dir)
    if missing:
        log(f"set-up: {model_dir} lacks {', '.join(missing)}: training on the copy into the temporary directory")
        model_dir = tmp / "models"
        run_promo(["train", "--quiet"], url, str(model_dir))
    return url, str(model_dir)


# --- campaigns, keys and households, through the service layer ------------------------------

@dataclasses.dataclass(frozen=True)
class Household:
    customer: str          # external id
    store: str             # location code of the usual store
    location_id: int


@dataclasses.dataclass
class Setup:
    channel_key: str
    inventory_key: str
    households: list[Household]
    campaigns: list[str]
    notes: list[str]
    carts: dict[str, str] = dataclasses.field(default_factory=dict)     # customer -> a cart body (JSON)


def setup_runtime(url: str, model_dir: str) -> Any:
    """A one-shot runtime with the stock view and the models loaded (the stock check reads
    both); not a serving one, which would resolve audiences in the background meanwhile."""
    from promo.bootstrap import bootstrap
    from promo.config import load_settings
    from promo.services.model_server import RESPONSE

    runtime = bootstrap(load_settings({"database_url": url, "model_dir": model_dir, "log_level": "WARNING"},
                                      environ={}))      # the server's settings too ignore PROMO_* (clean_env)
    runtime.stock.follower.load_snapshot()
    runtime.models.refresh()
    if runtime.stock.view.as_of_seq == 0 or runtime.models.get(RESPONSE) is None:
        runtime.close()
        raise BenchError(f"the copy has no stock or its response model is not in {model_dir}")
    return runtime


def usual_stores(runtime: Any) -> list[Household]:
    """Every demo customer at the store where they bought most (ties: the lower id)."""
    from sqlalchemy import text

    query = text("""
        WITH bought AS (
            SELECT customer_id, location_id, count(*) AS n FROM interactions
            WHERE type = 'purchase' AND location_id IS NOT NULL GROUP BY customer_id, location_id),
        ranked AS (
            SELECT customer_id, location_id,
                   row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, location_id) AS rank
            FROM bought)
        SELECT c.external_id, l.code, l.id FROM ranked r
        JOIN customers c ON c.id = r.customer_id JOIN locations l ON l.id = r.location_id
        WHERE r.rank = 1 AND l.kind = 'store' ORDER BY c.external_id""")
    with runtime.unit_of_work() as uow:
        return [Household(customer, code, location_id) for customer, code, location_id in uow.session.execute(query)]


def in_stock_by_location(runtime: Any, location_ids: set[int], minimum: int) -> dict[int, set[int]]:
    """Product ids with at least ``minimum`` units available, per location, from the live view."""
    view = runtime.stock.view
    return {loc: {p.product_id for p in view.positions_at_location(loc) if p.available >= minimum}
            for loc in location_ids}


def product_pool(households: list[Household], stocked: dict[int, set[int]], size: int) -> list[int]:
    """The products in stock where the most households buy: each product scores the
    households whose usual store has it."""
    weight = collections.Counter(h.location_id for h in households)
    score: collections.Counter[int] = collections.Counter()
    for location_id, products in stocked.items():
        for product_id in products:
            score[product_id] += weight[location_id]
    return [product_id for product_id, _ in score.most_common(size)]


def campaign_body(i: int, skus: list[str], rng: random.Random, now: dt.datetime) -> dict[str, Any]:
    """Campaign number i: a mix of targeting, discounts, holdouts, priorities and limits."""
    discounts = ({"type": "percent", "value": rng.choice([5, 10, 15, 20, 25, 30])},
                 {"type": "amount_off", "value": rng.choice([0.25, 0.5, 1.0])},
                 {"type": "buy_x_get_y", "buy": 2, "get": 1},
                 {"type": "percent", "value": rng.choice([10, 40])})
    profile = i % 5 in (1, 3)          # 40% profile targeting, 60% everyone
    body: dict[str, Any] = {
        "name": f"bench offers {i:03d}",
        "starts_at": now.isoformat(), "ends_at": (now + dt.timedelta(days=30)).isoformat(),
        "channels": ["web", "mobile", "store"],
        "products": {"skus": skus},
        "discount": discounts[i % len(discounts)],
        "targeting": ({"type": "profile", "segments": rng.choice(SEGMENT_CHOICES)} if profile
                      else {"type": "everyone"}),
        "holdout_percent": 10 if i % 3 == 0 else 0,
        "priority": rng.choice([0, 0, 0, 10, 50]),
        "exclusive": i % 10 == 7,
    }
    if i % 4 == 2:
        body["limits"] = {"per_customer": 3, "budget": 50_000}
    return body


def create_campaigns(runtime: Any, count: int, pool_skus: list[str], web_skus: list[str],
                     rng: random.Random) -> tuple[list[str], set[str]]:
    """Create and activate ``count`` campaigns; (their ids, the skus of the everyone ones)."""
    from promo.api.campaign_schemas import CampaignWriteSchema
    from promo.services import campaign_lifecycle, campaigns

    schema = CampaignWriteSchema()
    codes, everyone_skus = [], set()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=1)
    for i in range(count):
        skus = rng.sample(pool_skus, min(len(pool_skus), rng.randint(10, 30)))
        skus += [s for s in rng.sample(web_skus, min(len(web_skus), 3)) if s not in skus]
        body = schema.load(campaign_body(i, skus, rng, now))     # exactly what POST /v1/campaigns accepts
        code = campaigns.create_campaign(runtime.unit_of_work(write=True), body, actor="bench")["id"]
        campaign_lifecycle.transition(runtime, code, "activate", actor="bench",
                                      override_reason="bench/offers.py: active whatever the stock check says")
        codes.append(code)
        if body["targeting"]["type"] == "everyone":
            everyone_skus.update(skus)
    return codes, everyone_skus


@dataclasses.dataclass
class Products:
    pool: list[int]                    # in stock where the most households buy
    web: list[int]                     # of those, in stock at the web warehouse too
    stocked: dict[int, set[int]]       # location id -> products with a few units available


def choose_products(runtime: Any, households: list[Household], size: int) -> Products:
    sites = runtime.stock.catalog.sites()
    web_sites = {s.location_id for s in sites.values() if "web" in s.channels}
    stocked = in_stock_by_location(runtime, {h.location_id for h in households} | web_sites, 2)
    ranked = product_pool(households, {k: v for k, v in stocked.items() if k not in web_sites}, size * 3)
    if not ranked:
        raise BenchError("no product in stock at the households' stores")
    # A few products also in stock at the web warehouse, so that web offers are not empty.
    at_web = set().union(*(stocked[w] for w in web_sites))
    web = [p for p in ranked if p in at_web][:60] or ranked[:1]
    return Products(ranked[:size], web, stocked)


def create_keys(runtime: Any) -> tuple[str, str]:
    """(a channel key to read offers, an inventory key to post stock events)."""
    from promo.services import api_keys

    return tuple(api_keys.create_key(runtime.unit_of_work(write=True), name=f"bench-offers-{role}-{os.getpid()}",
                                     role=role)[1] for role in ("channel", "inventory"))   # type: ignore[return-value]


def live_campaigns(runtime: Any, count: int, pool: int, rng: random.Random
                   ) -> tuple[list[Household], Products, list[str], set[str]]:
    """(the demo households at their usual stores, the products chosen, the ids of ``count``
    campaigns created and activated on them, the skus of the campaigns for everyone)."""
    households = usual_stores(runtime)
    if not households:
        raise BenchError("no customer with purchases at a store: is this the demo database?")
    products = choose_products(runtime, households, pool)
    skus = runtime.stock.catalog.skus(products.pool + products.web)
    codes, everyone_skus = create_campaigns(runtime, count, [skus[p] for p in products.pool],
                                            [skus[p] for p in products.web], rng)
    return households, products, codes, everyone_skus


def seed(url: str, model_dir: str, opts: argparse.Namespace) -> Setup:
    """Campaigns and keys on the copy; the households the requests will pick from."""
    rng = random.Random(opts.seed)
    started = time.perf_counter()
    runtime = setup_runtime(url, model_dir)
    try:
        households, products, codes, everyone_skus = live_campaigns(runtime, opts.campaigns, opts.pool, rng)
        everyone_ids = set(runtime.stock.catalog.product_ids(everyone_skus).values())
        channel_key, inventory_key = create_keys(runtime)
        promoted_ids = set(products.pool) | set(products.web)
        stocked_skus = runtime.stock.catalog.skus(set().union(*products.stocked.values()))
    finally:
        runtime.close()
    promoted = {h: len(products.stocked[h.location_id] & everyone_ids) for h in households}
    covered = [h for h in households if promoted[h] >= opts.min_promoted]
    if not covered:
        raise BenchError("no household's store holds promoted products in stock")
    rng.shuffle(covered)
    covered = covered[: opts.households]
    carts = cart_bodies(covered, products.stocked, promoted_ids, stocked_skus, rng)
    notes = [f"{len(codes)} active campaigns over {len(set(products.pool) | set(products.web))} products "
             f"({len(everyone_skus)} in campaigns for everyone)",
             f"{len(covered)} households of {len(households)} (those whose usual store holds >= {opts.min_promoted} "
             f"everyone-campaign products in stock; median {statistics.median(promoted[h] for h in covered):.0f}), "
             f"at {len({h.store for h in covered})} stores"]
    log(f"set-up: {notes[0]}; {notes[1]}; {time.perf_counter() - started:.1f} s")
    return Setup(channel_key, inventory_key, covered, codes, notes, carts)


def cart_bodies(households: Sequence[Household], stocked: dict[int, set[int]], promoted: set[int],
                skus: dict[int, str], rng: random.Random) -> dict[str, str]:
    """A CART_LINES-line cart per household at its usual store: promoted products in stock
    there for about half the lines, other products in stock there for the rest."""
    carts = {}
    for h in households:
        here = sorted(stocked[h.location_id])
        on_offer = [p for p in here if p in promoted]
        other = [p for p in here if p not in promoted]
        chosen = rng.sample(on_offer, min(len(on_offer), CART_LINES // 2))
        chosen += rng.sample(other, min(len(other), CART_LINES - len(chosen)))
        lines = [{"sku": skus[p], "quantity": rng.randint(1, 3)} for p in chosen]
        carts[h.customer] = json.dumps({"customer": h.customer, "channel": "store", "location": h.store,
                                        "lines": lines})
    return carts


# --- servers ---------------------------------------------------------------------------------


@contextlib.contextmanager
def promo_server(url: str, model_dir: str, tmp: Path, log_level: str) -> Iterator[int]:
    """promo as `make serve` runs it (config/gunicorn.conf.py, 2 workers), each answer
    naming its worker (PROMO_EXPOSE_WORKER_ID=1) for the propagation part."""
    port = free_port()
    metrics = tmp / f"metrics-{port}"
    metrics.mkdir()
    env = clean_env(PROMO_DATABASE_URL=url, PROMO_MODEL_DIR=model_dir, PROMO_BIND=f"127.0.0.1:{port}",
                    PROMO_WORKERS=str(WORKERS), PROMO_LOG_LEVEL=log_level, PROMO_EXPOSE_WORKER_ID="1",
                    PROMETHEUS_MULTIPROC_DIR=str(metrics))
    log_path = tmp / f"promo-{port}.log"
    try:
        with started(gunicorn(["-c", "config/gunicorn.conf.py"], env, port, "/readyz", log_path), "promo") as ready:
            yield ready
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


@contextlib.contextmanager
def bare_app_server(tmp: Path) -> Iterator[int]:
    with started(bare_server(tmp), "the bare app") as port:
        yield port


@contextlib.contextmanager
def started(server: Any, name: str) -> Iterator[int]:
    """A server of bench/stock.py's gunicorn(), whose failure to start (a RuntimeError
    with its log) becomes a BenchError; errors once it serves pass through as they are."""
    serving = False
    try:
        with server as port:
            serving = True
            yield port
    except RuntimeError as exc:
        if serving:
            raise
        raise BenchError(f"{name} did not start: {exc}") from None


def server_log_tail(tmp: Path, lines: int = 30) -> str:
    """The server log's last lines but for the request log of successful requests."""
    logs = sorted(tmp.glob("promo-*.log"))
    if not logs:
        return ""
    kept = [line for line in logs[-1].read_text(errors="replace").splitlines()
            if not ('"message": "request"' in line and '"status": 2' in line)]
    return "\n".join(kept[-lines:])


# --- one GET, and a sample of answers checked --------------------------------------------------

@dataclasses.dataclass
class Answer:
    status: int
    body: bytes
    worker: str | None
    sent: float
    received: float

    def json(self) -> Any:
        return json.loads(self.body)


def get(port: int, path: str, headers: dict[str, str], timeout: float = 30) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return Answer(response.status, body, response.getheader(WORKER_HEADER), sent, time.perf_counter())
    finally:
        connection.close()


def post_json(port: int, path: str, body: Any, headers: dict[str, str]) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, json.dumps(body), {**headers, "Content-Type": "application/json"})
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise BenchError(f"POST {path} answered {response.status}: {data[:500]!r}")
    return json.loads(data)


def check_answers(port: int, paths: Sequence[str], headers: dict[str, str], key: str) -> list[tuple[int, bool]]:
    """GET each path once; every answer must be a 200 holding a ``key`` list. Returns
    (the list's length, personalised) of each. Fails loudly, with the body, on the first
    bad answer."""
    seen = []
    for path in paths:
        answer = get(port, path, headers)
        if answer.status == 404 and key in ("offers", "deals"):
            raise BenchError(f"GET {path} answered 404 ({answer.body[:200]!r}): does this code serve {key} "
                             "(issue 13)?")
        if answer.status != 200:
            raise BenchError(f"GET {path} answered {answer.status}: {answer.body[:500]!r}")
        body = answer.json()
        if not isinstance(body.get(key), list):
            raise BenchError(f"GET {path}: the answer has no {key!r} list: {answer.body[:500]!r}")
        seen.append((len(body[key]), bool(body.get("personalised"))))
    return seen


def check_cart_answers(port: int, bodies: Sequence[str], headers: dict[str, str]) -> list[tuple[int, bool]]:
    """POST each cart once; every answer must be a 200 with the cart's lines. Returns (the
    promotions applied, True) of each."""
    seen = []
    for body in bodies:
        answer = post_json(port, "/v1/carts/evaluate", json.loads(body), headers)
        if len(answer.get("lines", ())) != len(json.loads(body)["lines"]):
            raise BenchError(f"POST /v1/carts/evaluate: not the cart's lines: {json.dumps(answer)[:500]}")
        seen.append((len(answer["applied"]), True))
    return seen


# --- wrk --------------------------------------------------------------------------------------

# The end of every wrk script the benches write: count the answers that are not 2xx
# (keeping the first as an example) and print the figures as one JSON line.
LUA_ANSWERS = r"""function response(status, response_headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.gsub(string.sub(body or "", 1, 300), "%%s+", " ")
    end
  end
end

function done(summary, latency, requests)
  local bad, example = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non2xx") or 0)
    local first = thread:get("first_bad")
    if example == "" and first ~= nil and first ~= "" then example = first end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH {\"requests\": %%d, \"duration_us\": %%d, \"p50_us\": %%d, \"p90_us\": %%d, \"p99_us\": %%d, " ..
    "\"max_us\": %%d, \"non2xx\": %%d, \"connect\": %%d, \"read\": %%d, \"write\": %%d, \"timeout\": %%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, bad, e.connect, e.read, e.write, e.timeout))
  if example ~= "" then io.write("BENCH-EXAMPLE " .. example .. "\n") end
end
"""

LUA = r"""-- Written by bench/offers.py: a random path (household) per request, counting non-2xx answers.
local paths = {
%(paths)s
}
local bodies = {
%(bodies)s
}
local headers = %(headers)s
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(%(seed)d + thread_number * 7919)
  non2xx = 0
  first_bad = ""
end

function request()
  local i = math.random(#paths)
  if #bodies > 0 and bodies[i] ~= "" then
    return wrk.format("POST", paths[i], headers, bodies[i])
  end
  return wrk.format("GET", paths[i], headers)
end

""" + LUA_ANSWERS




def lua_script(paths: Sequence[str], headers: dict[str, str], seed: int, bodies: Sequence[str] = ()) -> str:
    """GET a random path per request; with ``bodies`` (one per path), POST the path's body
    as JSON (an empty body: GET)."""
    if bodies:
        headers = {**headers, "Content-Type": "application/json"}
    # JSON strings of plain ASCII read the same in Lua.
    table = ",\n".join(json.dumps(p) for p in paths)
    body_table = ",\n".join(json.dumps(b) for b in bodies)
    header_table = "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()) + "}"
    return LUA % {"paths": table, "bodies": body_table, "headers": header_table, "seed": seed}


@dataclasses.dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    example: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(port: int, script: Path, seconds: int, opts: argparse.Namespace) -> Load:
    command = ["wrk", "--latency", f"-t{opts.threads}", f"-c{opts.connections}", f"-d{seconds:g}s",
               "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    lines = done.stdout.splitlines()
    found = [line[len("BENCH "):] for line in lines if line.startswith("BENCH ")]
    if done.returncode != 0 or not found:
        raise BenchError(f"{shlex.join(command)} failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    figures = json.loads(found[0])
    example = next((line[len("BENCH-EXAMPLE "):] for line in lines if line.startswith("BENCH-EXAMPLE ")), "")
    return Load(figures["requests"], figures["duration_us"] / 1e6, figures["p50_us"] / 1e3, figures["p99_us"] / 1e3,
                figures["non2xx"], sum(figures[k] for k in ("connect", "read", "write", "timeout")), example)


# --- parts 1-3: throughput and latency against the bare app -----------------------------------

@dataclasses.dataclass(frozen=True)
class Line:
    part: str
    name: str
    key: str                    # the answer's list: offers, deals, items (or applied, for carts)
    paths: tuple[str, ...]
    bodies: tuple[str, ...] = ()    # POST bodies, one per path (carts); none: GET


def lines_of(part: str, households: Sequence[Household], limit: int, carts: dict[str, str] | None = None
             ) -> list[Line]:
    if part == "carts":
        bodies = tuple((carts or {})[h.customer] for h in households)
        return [Line(part, f"carts {CART_LINES} lines", "applied", ("/v1/carts/evaluate",) * len(bodies), bodies)]
    if part == "offers":
        return [Line(part, "offers store", "offers", tuple(
                    f"/v1/customers/{h.customer}/offers?channel=store&location={h.store}&limit={limit}"
                    for h in households)),
                Line(part, "offers web", "offers", tuple(
                    f"/v1/customers/{h.customer}/offers?channel=web&limit={limit}" for h in households))]
    if part == "deals":
        return [Line(part, "deals mobile", "deals", tuple(
            f"/v1/deals?channel=mobile&location={h.store}&limit={limit}&customer={h.customer}" for h in households))]
    return [Line(part, "recommendations store", "items", tuple(
        f"/v1/customers/{h.customer}/recommendations?channel=store&location={h.store}&limit={limit}"
        for h in households))]


def measure_line(line: Line, port: int, bare_port: int, headers: dict[str, str], tmp: Path,
                 opts: argparse.Namespace, report: Report) -> int:
    """promo and the bare app take turns; adds the line's rows; returns its non-2xx count."""
    rng = random.Random(opts.seed)
    if line.bodies:
        answers = check_cart_answers(port, rng.sample(line.bodies, min(opts.sample, len(line.bodies))), headers)
    else:
        answers = check_answers(port, rng.sample(line.paths, min(opts.sample, len(line.paths))), headers, line.key)
    promo_script = tmp / f"{line.name.replace(' ', '-')}.lua"
    promo_script.write_text(lua_script(line.paths, headers, opts.seed, line.bodies))
    bare_script = tmp / f"{line.name.replace(' ', '-')}-bare.lua"
    if opts.baseline == "offers-like":
        bare_script.write_text(lua_script(line.paths, headers, opts.seed, line.bodies))
    else:
        bare_script.write_text(lua_script(("/healthz",), headers, opts.seed))
    log(f"{line.name}: warm-up {opts.line_warmup} s each, then {opts.rounds} rounds of {opts.seconds:g} s, "
        f"promo and the bare app taking turns")
    warm = [run_wrk(port, promo_script, opts.line_warmup, opts),
            run_wrk(bare_port, bare_script, opts.line_warmup, opts)]
    promo_runs, bare_runs = [], []
    for r in range(opts.rounds):
        # Alternate who goes first, so neither side always follows the other's load.
        order = [("promo", port, promo_script), ("bare", bare_port, bare_script)]
        for side, p, script in (order if r % 2 == 0 else order[::-1]):
            (promo_runs if side == "promo" else bare_runs).append(run_wrk(p, script, opts.seconds, opts))
        log(f"  round {r + 1}: promo {promo_runs[-1].rate:,.0f} req/s p99 {promo_runs[-1].p99_ms:.1f} ms; "
            f"bare {bare_runs[-1].rate:,.0f} req/s p99 {bare_runs[-1].p99_ms:.1f} ms")
    return add_line_rows(line, answers, warm, promo_runs, bare_runs, opts, report)


def add_line_rows(line: Line, sample: list[tuple[int, bool]], warm: list[Load], promo_runs: list[Load],
                  bare_runs: list[Load], opts: argparse.Namespace, report: Report) -> int:
    """The line's rows (medians over the rounds); returns its non-2xx answers, promo's and
    the bare app's (which would be the bench's own fault)."""
    rate = statistics.median(r.rate for r in promo_runs)
    bare_rate = statistics.median(r.rate for r in bare_runs)
    if any(r.requests == 0 for r in promo_runs + bare_runs):
        raise BenchError(f"{line.name}: a wrk round completed no request")
    ratio = statistics.median(p.rate / b.rate for p, b in zip(promo_runs, bare_runs))
    p50 = statistics.median(r.p50_ms for r in promo_runs)
    p99 = statistics.median(r.p99_ms for r in promo_runs)
    bare_p50 = statistics.median(r.p50_ms for r in bare_runs)
    bare_p99 = statistics.median(r.p99_ms for r in bare_runs)
    promo_all = warm[:1] + promo_runs
    bad = sum(r.non2xx for r in promo_all) + sum(r.non2xx for r in warm[1:] + bare_runs)
    socket_errors = sum(r.socket_errors for r in promo_all)
    baseline = "bare offers-like" if opts.baseline == "offers-like" else "bare /healthz"
    name = line.name
    report.add(line.part, f"{name}: req/s", f"{rate:,.0f}", baseline=f"{baseline} {bare_rate:,.0f} req/s")
    if line.part == "carts":        # issue 14 asks only the p99 of carts
        report.add(line.part, f"{name}: throughput / bare", f"{ratio:.2f}x", baseline="median of the rounds' ratios")
    else:
        report.add(line.part, f"{name}: throughput / bare", f"{ratio:.2f}x", f">= {RATIO_GOAL}x",
                   ratio >= RATIO_GOAL, "median of the rounds' ratios")
    report.add(line.part, f"{name}: p50 / p99 (ms)", f"{p50:.1f} / {p99:.1f}", f"p99 < {P99_GOAL_MS:g} ms",
               p99 < P99_GOAL_MS, f"{baseline} {bare_p50:.1f} / {bare_p99:.1f} ms")
    report.add(line.part, f"{name}: non-2xx answers", f"{bad}", "0", bad == 0,
               f"{sum(r.requests for r in promo_all):,} requests; {socket_errors} socket errors")
    empty = sum(1 for n, _ in sample if n == 0)
    personalised = sum(1 for _, p in sample if p)
    report.add(line.part, f"{name}: empty lists (sample)", f"{empty}/{len(sample)}",
               baseline=f"mean length {statistics.mean(n for n, _ in sample):.1f}; "
                        f"{personalised}/{len(sample)} personalised" if sample else "")
    for r in promo_all + warm[1:] + bare_runs:
        if r.example:
            log(f"{name}: a non-2xx answer: {r.example}")
            break
    return bad


# --- part 4: from a stock event to every worker's offers -----------------------------------------

@dataclasses.dataclass(frozen=True)
class Target:
    household: Household
    sku: str
    on_hand: int

    @property
    def path(self) -> str:
        h = self.household
        return f"/v1/customers/{h.customer}/offers?channel=store&location={h.store}&limit={LIMIT}"


LIMIT = 10


def offered_in_stock(answer: Answer, sku: str) -> bool:
    """Whether the answer offers ``sku`` as in stock (an offer kept with a promise date
    instead counts as gone)."""
    for offer in answer.json()["offers"]:
        if offer.get("sku") == sku and (offer.get("availability") or {}).get("in_stock", True):
            return True
    return False


def find_targets(port: int, headers: dict[str, str], inventory: dict[str, str], households: Sequence[Household],
                 wanted: int, rng: random.Random) -> list[Target]:
    """Distinct products offered in stock to a household at its store, with the units on
    hand there (from the stock API: the server's own view)."""
    targets: list[Target] = []
    used: set[str] = set()
    for household in rng.sample(list(households), len(households)):
        path = f"/v1/customers/{household.customer}/offers?channel=store&location={household.store}&limit={LIMIT}"
        answer = get(port, path, headers)
        if answer.status != 200:
            raise BenchError(f"GET {path} answered {answer.status}: {answer.body[:500]!r}")
        skus = [o["sku"] for o in answer.json()["offers"]
                if o["sku"] not in used and (o.get("availability") or {}).get("in_stock", True)]
        if not skus:
            continue
        sku = rng.choice(skus)
        stock = get(port, f"/v1/products/{sku}/stock", inventory)
        if stock.status != 200:
            raise BenchError(f"GET /v1/products/{sku}/stock answered {stock.status}: {stock.body[:300]!r}")
        here = [p for p in stock.json()["locations"] if p["location"] == household.store]
        if not here or here[0]["on_hand"] < 1:
            continue
        used.add(sku)
        targets.append(Target(household, sku, here[0]["on_hand"]))
        if len(targets) >= wanted:
            break
    return targets


@dataclasses.dataclass(frozen=True)
class Poll:
    sent: float
    received: float
    worker: str | None
    offered: bool              # the product offered in stock


class Pollers:
    """Client threads GETting one household's offers over and over (a new connection each
    time, as gunicorn's sync workers close it), noting of each answer its worker and
    whether it offers the product in stock: whichever worker is free answers, so every
    worker is heard from within a few requests. Each answer is parsed once, here."""

    def __init__(self, port: int, headers: dict[str, str], target: Target, threads: int):
        self.port, self.headers, self.target = port, headers, target
        self.polls: list[Poll] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._poll, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "Pollers":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _poll(self) -> None:
        while not self.stop.is_set():
            try:
                answer = get(self.port, self.target.path, self.headers, timeout=10)
                if answer.status != 200:
                    self.errors.append(f"{answer.status}: {answer.body[:300]!r}")
                    continue
                poll = Poll(answer.sent, answer.received, answer.worker, offered_in_stock(answer, self.target.sku))
            except (OSError, ValueError, KeyError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with self.lock:
                self.polls.append(poll)

    def since(self, start: int = 0) -> list[Poll]:
        with self.lock:
            return self.polls[start:]


def wait_for(condition: Any, seconds: float, pollers: Pollers) -> bool:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if pollers.errors:
            raise BenchError(f"offers polled during propagation answered: {pollers.errors[0]}")
        if condition():
            return True
        time.sleep(0.002)
    return False


def workers_heard(pollers: Pollers, expected: int, seconds: float = 10.0) -> set[str]:
    """The workers' ids, from the X-Promo-Worker header of the polled answers."""
    wait_for(lambda: len({p.worker for p in pollers.since()}) >= expected or len(pollers.since()) > 400,
             seconds, pollers)
    workers = {p.worker for p in pollers.since()}
    if None in workers:
        raise BenchError(f"answers carry no {WORKER_HEADER} header: does the server honour PROMO_EXPOSE_WORKER_ID=1?")
    if len(workers) < expected:
        raise BenchError(f"only {len(workers)} of {expected} workers answered {len(pollers.since())} requests")
    return workers  # type: ignore[return-value]


class Disappearance:
    """Per worker, the first answer to a request sent after the event that no longer
    offers the product; and any answer to a request sent after such an answer had
    arrived that offers it again (a worker serving a stale list)."""

    def __init__(self, pollers: Pollers, event_sent: float, workers: set[str]):
        self.pollers, self.event_sent, self.workers = pollers, event_sent, workers
        self.gone: dict[str, Poll] = {}           # worker -> its first answer without the product
        self.came_back: list[tuple[Poll, Poll]] = []
        self.seen = len(pollers.since())

    def everywhere(self) -> bool:
        # Threads append in about the order answers arrive, not exactly: compare times.
        for poll in self.pollers.since(self.seen):
            self.seen += 1
            if poll.sent < self.event_sent or poll.worker is None:
                continue
            first = self.gone.get(poll.worker)
            if not poll.offered and (first is None or poll.received < first.received):
                self.gone[poll.worker] = poll
            elif poll.offered and first is not None and poll.sent > first.received:
                self.came_back.append((first, poll))
        return set(self.gone) >= self.workers

    def seconds(self) -> float:
        """From sending the event to the last worker's first answer without the product."""
        return max(poll.received for poll in self.gone.values()) - self.event_sent

    def describe_came_back(self) -> str:
        gone, back = self.came_back[0]
        ms = lambda t: f"{(t - self.event_sent) * 1e3:.1f} ms"      # noqa: E731 - after the event
        return (f"worker {back.worker} answered without it to a request sent at {ms(gone.sent)} (answered at "
                f"{ms(gone.received)}), then with it to a request sent at {ms(back.sent)}")


@dataclasses.dataclass
class Trial:
    delay: float | None          # seconds from sending the event to the last worker's list without it
    post_seconds: float
    skipped: str = ""


def stock_event(target: Target, kind: str, quantity: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    event = {"event_id": f"bench-offers-{kind}-{os.getpid()}-{time.time_ns()}", "sku": target.sku,
             "location": target.household.store, "type": kind, "quantity": quantity, "occurred_at": now}
    if kind == "adjustment":
        event["reason"] = "bench/offers.py: restock after the propagation trial"
    return event


def trial(port: int, headers: dict[str, str], inventory: dict[str, str], target: Target,
          opts: argparse.Namespace) -> Trial:
    """Empty the product at the store with a sale of every unit on hand, and time the
    first answer from each worker, to a request sent after the event, that no longer
    offers it in stock. Restocks it afterwards."""
    with Pollers(port, headers, target, opts.pollers) as pollers:
        workers = workers_heard(pollers, WORKERS)

        def offered_by_all() -> bool:
            return {p.worker for p in pollers.since() if p.offered} >= workers
        if not wait_for(offered_by_all, 5.0, pollers):
            return Trial(None, 0.0, skipped="not offered by every worker before the event")
        sent = time.perf_counter()
        disappearance = Disappearance(pollers, sent, workers)
        result = post_json(port, "/v1/stock/events", {"events": [stock_event(target, "sale", target.on_hand)]},
                           inventory)
        post_seconds = time.perf_counter() - sent
        if result.get("accepted") != 1:
            raise BenchError(f"the emptying sale was not accepted: {result}")
        propagated = wait_for(disappearance.everywhere, opts.propagation_timeout, pollers)
        # A few more answers, to catch a worker that offers it again (a stale cache).
        time.sleep(0.05)
        disappearance.everywhere()
    post_json(port, "/v1/stock/events", {"events": [stock_event(target, "adjustment", target.on_hand)]}, inventory)
    if disappearance.came_back:
        raise BenchError(f"{target.sku} at {target.household.store} (emptied by a sale of {target.on_hand}) came "
                         f"back into the offers after it had gone, before the restock: "
                         f"{disappearance.describe_came_back()}")
    return Trial(disappearance.seconds() if propagated else None, post_seconds)


def run_propagation(port: int, setup: Setup, opts: argparse.Namespace, report: Report) -> int:
    """Returns the number of products that did not leave every worker's offers in time."""
    headers = {"Authorization": f"Bearer {setup.channel_key}"}
    inventory = {"Authorization": f"Bearer {setup.inventory_key}"}
    rng = random.Random(opts.seed + 1)
    targets = find_targets(port, headers, inventory, setup.households, opts.propagation + 10, rng)
    if len(targets) < opts.propagation:
        raise BenchError(f"only {len(targets)} products offered in stock to the households were found "
                         f"(wanted {opts.propagation}): are the offers empty?")
    log(f"propagation: {opts.propagation} products, each emptied at a household's store, polled by "
        f"{opts.pollers} client threads until every worker's offers lack it")
    delays, after_answer, posts, skipped, missed = [], [], [], 0, 0
    for target in targets:
        if len(delays) + missed >= opts.propagation:
            break
        result = trial(port, headers, inventory, target, opts)
        if result.skipped:
            skipped += 1
            log(f"  {target.sku} at {target.household.store}: skipped ({result.skipped})")
            continue
        posts.append(result.post_seconds)
        if result.delay is None:
            missed += 1
            log(f"  {target.sku} at {target.household.store}: still offered by a worker after "
                f"{opts.propagation_timeout:g} s")
        else:
            delays.append(result.delay)
            after_answer.append(max(0.0, result.delay - result.post_seconds))
    p50, p99 = percentile(delays, 50) * 1e3, percentile(delays, 99) * 1e3
    poll_ms = stock_poll_interval_ms()
    report.add("propagation", "from sending the event p50 / p99 (ms)", f"{p50:.1f} / {p99:.1f}",
               f"p99 < {PROPAGATION_GOAL_MS:g} ms", bool(delays) and p99 < PROPAGATION_GOAL_MS,
               f"p99 = {p99 / poll_ms:.1f}x the {poll_ms:g} ms poll interval")
    report.add("propagation", "max (ms)", f"{max(delays) * 1e3:.1f}" if delays else "-",
               baseline=f"{len(delays)} products; {skipped} skipped (not offered by every worker first)")
    report.add("propagation", "from the event's 200 p50 / p99 (ms)",
               f"{percentile(after_answer, 50) * 1e3:.1f} / {percentile(after_answer, 99) * 1e3:.1f}",
               baseline="the event committed by then")
    report.add("propagation", "event POST p50 (ms)", f"{percentile(posts, 50) * 1e3:.1f}",
               baseline="in the first figure, not in the one above")
    report.add("propagation", "never gone from a worker", f"{missed}", "0", missed == 0,
               f"within {opts.propagation_timeout:g} s")
    return missed


def stock_poll_interval_ms() -> float:
    from promo.config import load_settings

    return float(load_settings({}, environ={}).stock_poll_interval_ms)    # as the server has it (clean_env)


# --- main ---------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the demo database, copied first (default {DEFAULT_URL}; "
                                                           "if missing, the demo is loaded into a temporary one)")
    parser.add_argument("--model-dir", help="its trained models (default: <db dir>/models or <db dir>/../models; "
                                            "trained on the copy if the active versions are not there)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (about a minute): no warm-up passes, 4 s of settling, 1 round of 2 s, "
                             "5 propagation products")
    parser.add_argument("--campaigns", type=int, default=50, help="active campaigns to create (default 50)")
    # wrk takes whole seconds.
    parser.add_argument("--seconds", type=int, help="wrk duration of each round, each side (default 10; quick 2)")
    parser.add_argument("--rounds", type=int, help="rounds, promo and the bare app taking turns (default 3; quick 1)")
    parser.add_argument("--warm-passes", type=int, help="after promo starts, request every measured path this "
                                                          "many times, unmeasured (default 2; quick 0)")
    parser.add_argument("--settle", type=int, help="then at least this many seconds of wrk bursts, every measured "
                                                     "request mixed, until the rate is steady (default 10; quick 2)")
    parser.add_argument("--settle-max", type=int, help="at most this many, if it is not steady before "
                                                         "(default 120; quick 4; 0: no bursts)")
    parser.add_argument("--settle-burst", type=int, help="seconds of one settling burst (default 5; quick 2)")
    parser.add_argument("--line-warmup", type=int,
                        help="unmeasured wrk seconds before each line's rounds, each side (default 2; quick 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--baseline", choices=("offers-like", "healthz"), default="offers-like",
                        help="the bare app's endpoint: the same paths answered with 10 offer-shaped items "
                             "(default), or GET /healthz")
    parser.add_argument("--propagation", type=int,
                        help="products emptied in the propagation part (default 30; quick 5)")
    parser.add_argument("--propagation-timeout", type=float, default=5.0,
                        help="seconds a product may stay offered after its stock-out before it counts as never gone")
    parser.add_argument("--pollers", type=int, default=3, help="client threads polling offers (propagation)")
    parser.add_argument("--households", type=int, default=2000, help="households the requests pick from")
    parser.add_argument("--min-promoted", type=int, default=3,
                        help="keep households whose store holds this many everyone-campaign products in stock")
    parser.add_argument("--pool", type=int, default=600, help="products the campaigns pick from")
    parser.add_argument("--sample", type=int, help="answers checked (status, shape, length) per line "
                                                     "(default 40; quick 20)")
    parser.add_argument("--log-level", default="INFO", help="the server's log level (default INFO, as served)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--tmpdir", help="where the database copy, scripts and logs go")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))} (choose from {', '.join(PARTS)})")
    quick = args.quick
    args.seconds = max(1, args.seconds or (2 if quick else 10))
    args.rounds = max(1, args.rounds or (1 if quick else 3))
    args.line_warmup = max(1, args.line_warmup or (1 if quick else 2))
    args.warm_passes = args.warm_passes if args.warm_passes is not None else (0 if quick else 2)
    args.settle = args.settle if args.settle is not None else (2 if quick else 10)
    args.settle_max = args.settle_max if args.settle_max is not None else max(args.settle, 4 if quick else 120)
    args.sample = args.sample or (20 if quick else 40)
    args.settle_burst = max(1, args.settle_burst or (2 if quick else 5))
    args.propagation = args.propagation or (5 if quick else 30)
    return args


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        print("bench/offers.py needs wrk, the HTTP load generator (Debian package `wrk`):\n"
              "    apt-get install -y wrk        # or: make bench-tools", file=sys.stderr)
        raise SystemExit(2)


def warm_every_path(port: int, lines: list[Line], headers: dict[str, str], opts: argparse.Namespace,
                    report: Report) -> int:
    """Request every measured path --warm-passes times, in a random order, from
    --connections client threads: every customer's first request in a worker computes
    their affinity (and keeps it), so after the passes each worker has met nearly every
    household (each is asked for on every line, each time by whichever worker is free).
    Returns the non-2xx answers; reports the first and the last tenth's rates (cold, warm)."""
    paths = [path for line in lines for path in line.paths] * opts.warm_passes
    if not paths:
        return 0
    random.Random(opts.seed).shuffle(paths)
    log(f"warming: every measured path {opts.warm_passes} times, {len(paths):,} requests from "
        f"{opts.connections} threads")
    finished: list[float] = []
    bad: list[str] = []
    lock = threading.Lock()
    queue = iter(paths)

    def client() -> None:
        while True:
            with lock:
                path = next(queue, None)
            if path is None:
                return
            answer = get(port, path, headers)
            with lock:
                finished.append(answer.received)
                if answer.status != 200 and len(bad) < 100:
                    bad.append(f"GET {path}: {answer.status} {answer.body[:200]!r}")

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(opts.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished.sort()
    tenth = max(1, len(finished) // 10)
    cold = tenth / max(finished[tenth - 1] - started, 1e-9)
    warm = tenth / max(finished[-1] - finished[-tenth - 1], 1e-9) if len(finished) > tenth else cold
    log(f"  warmed in {finished[-1] - started:.0f} s: {cold:,.0f} req/s in the first tenth, {warm:,.0f} in the last")
    report.add("settle", "warm-up req/s, first tenth -> last", f"{cold:,.0f} -> {warm:,.0f}",
               baseline=f"every path x{opts.warm_passes}: {len(paths):,} requests in {finished[-1] - started:.0f} s")
    if bad:
        log(f"  a non-2xx answer: {bad[0]}")
    return len(bad)


def settle(port: int, lines: list[Line], headers: dict[str, str], tmp: Path, opts: argparse.Namespace,
           report: Report) -> int:
    """Load promo with every line's requests, mixed and unmeasured, until it is steady: a
    worker starts by resolving every live campaign's audience (in the background) and
    computes each customer's affinity on their first request, then keeps it. Bursts of
    wrk until one's rate is within 10% of the one before, for --settle seconds at least,
    --settle-max at most. Returns the non-2xx answers."""
    paths = [path for line in lines for path in line.paths]
    if not paths or opts.settle_max <= 0:
        return 0
    posts = any(line.bodies for line in lines)
    bodies = [body for line in lines for body in (line.bodies or ("",) * len(line.paths))] if posts else []
    script = tmp / "settle.lua"
    script.write_text(lua_script(paths, headers, opts.seed, bodies))
    log(f"settling: bursts of {opts.settle_burst} s of every measured request, mixed, unmeasured, until steady "
        f"({opts.settle}-{opts.settle_max} s)")
    loads: list[Load] = []
    started = time.perf_counter()
    while True:
        loads.append(run_wrk(port, script, opts.settle_burst, opts))
        elapsed = time.perf_counter() - started
        steady = len(loads) >= 2 and abs(loads[-1].rate - loads[-2].rate) <= 0.1 * loads[-2].rate
        if elapsed >= opts.settle_max or (elapsed >= opts.settle and steady):
            break
    rates = ", ".join(f"{load.rate:,.0f}" for load in loads)
    log(f"  settled after {elapsed:.0f} s ({'steady' if steady else 'NOT steady: --settle-max reached'}); "
        f"req/s per burst: {rates}")
    report.add("settle", "req/s, first burst -> last", f"{loads[0].rate:,.0f} -> {loads[-1].rate:,.0f}",
               baseline=f"{len(loads)} bursts of {opts.settle_burst} s, every line mixed; "
                        f"{'steady' if steady else 'not steady'}")
    for load in loads:
        if load.example:
            log(f"  a non-2xx answer: {load.example}")
            break
    return sum(load.non2xx for load in loads)


def run(opts: argparse.Namespace, tmp: Path, report: Report) -> list[str]:
    """Every part asked for; returns what went wrong (non-2xx answers, products never gone)."""
    problems: list[str] = []
    url, model_dir = prepare_database(opts, tmp)
    setup = seed(url, model_dir, opts)
    for note in setup.notes:
        print(f"  {note}")
    headers = {"Authorization": f"Bearer {setup.channel_key}"}
    lines = [line for part in PARTS if part in opts.parts and part != "propagation"
             for line in lines_of(part, setup.households, LIMIT, setup.carts)]
    reads = [line for line in lines if not line.bodies]       # warmed and settled with GETs
    log("starting promo and the bare app under gunicorn, 2 workers each")
    with promo_server(url, model_dir, tmp, opts.log_level) as port, bare_app_server(tmp) as bare_port:
        if opts.warm_passes and warm_every_path(port, reads, headers, opts, report):
            problems.append("warming: non-2xx answers")
        if settle(port, lines, headers, tmp, opts, report):
            problems.append("settling: non-2xx answers")
        for line in lines:
            bad = measure_line(line, port, bare_port, headers, tmp, opts, report)
            if bad:
                problems.append(f"{line.name}: {bad} non-2xx answers")
        if "propagation" in opts.parts:
            missed = run_propagation(port, setup, opts, report)
            if missed:
                problems.append(f"propagation: {missed} products still offered {opts.propagation_timeout:g} s "
                                "after their stock-out")
    return problems


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    if set(opts.parts) - {"propagation"}:
        require_wrk()
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    started = time.perf_counter()
    load_before = os.getloadavg()
    report = Report()
    print(f"promo offers benchmark: SQLite; {os.cpu_count()} CPUs, load average {load_before[0]:.1f} at start; "
          f"parts: {', '.join(opts.parts)}; wrk -t{opts.threads} -c{opts.connections}, {opts.rounds} x "
          f"{opts.seconds:g} s per side", flush=True)
    with tempfile.TemporaryDirectory(prefix="promo-bench-offers-", dir=opts.tmpdir) as tmp_name:
        tmp = Path(tmp_name)
        try:
            problems = run(opts, tmp, report)
        except BenchError as exc:
            tail = server_log_tail(tmp)
            print(f"\nbench/offers.py FAILED: {exc}", file=sys.stderr)
            if tail:
                print(f"--- the promo server's log, last lines ---\n{tail}", file=sys.stderr)
            raise SystemExit(1) from None
    load_after = os.getloadavg()
    print()
    print(f"summary: SQLite; {time.perf_counter() - started:.0f} s; load average {load_before[0]:.1f} at start, "
          f"{load_after[0]:.1f} at end, {os.cpu_count()} CPUs")
    print(f"command: {command}")
    print(report.table())
    if problems:
        print("\nFAILED: " + "; ".join(problems), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
