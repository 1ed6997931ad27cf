"""Soak: a mixed workload at about 70% of measured capacity for several minutes.

    .venv/bin/python bench/soak.py                              # the demo of `make run`, copied; 5 minutes
    .venv/bin/python bench/soak.py --minutes 2 --url sqlite:////tmp/demo/promo.db --model-dir /tmp/demo/models
    .venv/bin/python bench/soak.py --quick                      # a smoke run (about 2 minutes in all)

Needs wrk (`apt-get install -y wrk`, or `make bench-tools`). SQLite.

Set-up as bench/offers.py (a copy of the demo, 50 live campaigns, households at their
usual stores), then promo under gunicorn with 2 workers. The mix, per request, drawn at
random in wrk's Lua script (every write carries a fresh id, so nothing is a repeat):
  40% GET offers (store), 15% GET deals (mobile), 15% POST /v1/stock/events (a receipt of
  3 units of a product offered at the household's store), 20% POST /v1/interactions (a
  view), 10% POST /v1/redemptions (1 unit of a product offered to the household, naming
  a campaign without limits). Every target product is topped up with 1,000 units first, and the
  receipts keep it in stock.

1. Warm-up: bursts of the mix with no pause between requests (wrk -t2 -c16, --warm-burst
   seconds each) until the service is steady: the rate within 10% of the burst before,
   the workers' memory within 2%, and their bounded caches no longer filling (from
   promo_serving_cache_entries in /metrics; at most --warm-max seconds). The last burst
   is the capacity.
2. Soak: the same connections, each pausing between requests so that the whole comes to
   --share (0.7) of the capacity, for --minutes, measured in segments of --segment
   seconds. Worker memory (RSS, PSS) is read as the soak starts and at its end.

Goals (issue 17): zero errors (no non-2xx answer, no socket error); a stable p99 (the
last segment's within 1.5x the first's, and none over 3x the median); worker memory
growth under 5% from the first segment to the end. Exit status 0 when every goal is met,
1 otherwise, 2 without wrk.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from offers import (  # noqa: E402  (bench/offers.py: the same set-up and server)
    DEFAULT_URL,
    LUA_ANSWERS,
    BenchError,
    Household,
    Load,
    get,
    post_json,
    prepare_database,
    promo_server,
    require_wrk,
    run_wrk,
    seed,
)
from stock import Report, log  # noqa: E402
from worker_memory import memory_of  # noqa: E402

MIX = (("offers", 40), ("deals", 15), ("stock", 15), ("interactions", 20), ("redemptions", 10))
P99_LAST_OVER_FIRST = 1.5
P99_OVER_MEDIAN = 3.0
MEMORY_GROWTH = 0.05
TOP_UP = 1000
LIMITED_EVERY = 4          # bench/offers.py gives every 4th campaign (i % 4 == 2) a per-customer limit

LUA = r"""-- Written by bench/soak.py: a weighted mix of reads and writes, each write with a fresh id.
local offers = {
%(offers)s
}
local deals = {
%(deals)s
}
-- {customer, store, sku, campaign}: a product offered to the household at its store
local targets = {
%(targets)s
}
local weights = {%(weights)s}
local kinds = {"offers", "deals", "stock", "interactions", "redemptions"}
local headers = %(headers)s
local json_headers = %(json_headers)s
local delay_ms = %(delay_ms)d
local at = "%(at)s"
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
  sent = 0
end

function delay()
  return delay_ms
end

local function pick_kind()
  local roll = math.random(100)
  for i, weight in ipairs(weights) do
    if roll <= weight then return kinds[i] end
    roll = roll - weight
  end
  return kinds[1]
end

function request()
  sent = sent + 1
  local id = "soak-%(run)s-" .. thread_number .. "-" .. sent
  local kind = pick_kind()
  if kind == "offers" then return wrk.format("GET", offers[math.random(#offers)], headers) end
  if kind == "deals" then return wrk.format("GET", deals[math.random(#deals)], headers) end
  local t = targets[math.random(#targets)]
  if kind == "stock" then
    return wrk.format("POST", "/v1/stock/events", json_headers, string.format(
      '{"events": [{"event_id": "%%s", "sku": "%%s", "location": "%%s", "type": "receipt", "quantity": 3, ' ..
      '"occurred_at": "%%s"}]}', id, t[3], t[2], at))
  end
  if kind == "interactions" then
    return wrk.format("POST", "/v1/interactions", json_headers, string.format(
      '{"events": [{"event_id": "%%s", "customer": "%%s", "sku": "%%s", "type": "view", "channel": "store", ' ..
      '"location": "%%s", "occurred_at": "%%s"}]}', id, t[1], t[3], t[2], at))
  end
  return wrk.format("POST", "/v1/redemptions", json_headers, string.format(
    '{"idempotency_key": "%%s", "customer": "%%s", "channel": "store", "location": "%%s", "campaign": "%%s", ' ..
    '"lines": [{"sku": "%%s", "quantity": 1}]}', id, t[1], t[2], t[4], t[3]))
end

""" + LUA_ANSWERS


def lua_table(items: Sequence[str]) -> str:
    return ",\n".join(json.dumps(item) for item in items)


def redemption_targets(port: int, headers: dict[str, str], households: Sequence[Household],
                       unlimited: set[str], wanted: int, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(customer, store, sku, campaign) for products offered in stock to households at their
    stores by campaigns without limits (a redemption of one unit then always succeeds)."""
    found: list[tuple[str, str, str, str]] = []
    for household in rng.sample(list(households), len(households)):
        path = f"/v1/customers/{household.customer}/offers?channel=store&location={household.store}&limit=10"
        answer = get(port, path, headers)
        if answer.status != 200:
            raise BenchError(f"GET {path} answered {answer.status}: {answer.body[:300]!r}")
        for offer in answer.json()["offers"]:
            campaign = offer["campaign"]["id"]
            if campaign in unlimited and (offer.get("availability") or {}).get("in_stock", True):
                found.append((household.customer, household.store, offer["sku"], campaign))
                break
        if len(found) >= wanted:
            break
    if not found:
        raise BenchError("no household is offered a product of a campaign without limits")
    return found


def write_script(tmp: Path, run: str, setup: Any, targets: list[tuple[str, str, str, str]], key: str,
                 delay_ms: int, seed: int, mix: dict[str, int]) -> Path:
    """A wrk script; ``run`` (one per wrk run) is in the ids of its writes, so that no two
    runs send the same event id or idempotency key."""
    households = setup.households
    headers = {"Authorization": f"Bearer {key}"}
    script = LUA % {
        "offers": lua_table([f"/v1/customers/{h.customer}/offers?channel=store&location={h.store}&limit=10"
                             for h in households]),
        "deals": lua_table([f"/v1/deals?channel=mobile&location={h.store}&limit=10&customer={h.customer}"
                            for h in households]),
        "targets": ",\n".join("{" + ", ".join(json.dumps(v) for v in t) + "}" for t in targets),
        "weights": ", ".join(str(mix.get(kind, 0)) for kind, _ in MIX),
        "headers": "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()) + "}",
        "json_headers": "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in
                                        {**headers, "Content-Type": "application/json"}.items()) + "}",
        "delay_ms": delay_ms,
        "at": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)).isoformat(timespec="seconds"),
        "seed": seed, "run": f"{run}-{os.getpid()}",
    }
    path = tmp / f"soak-{run}.lua"
    path.write_text(script)
    return path


def worker_memory(port: int, headers: dict[str, str], households: Sequence[Household]) -> dict[int, dict[str, float]]:
    """{pid: {rss, pss, uss}} of every worker that answers (told apart by X-Promo-Worker)."""
    pids: set[int] = set()
    for household in list(households)[:200]:
        answer = get(port, f"/v1/deals?channel=mobile&location={household.store}&limit=10", headers)
        pid = answer.worker
        if pid:
            pids.add(int(pid))
        if len(pids) >= 2:
            break
    return {pid: memory_of(pid) for pid in sorted(pids)}


def top_up(port: int, headers: dict[str, str], targets: Sequence[tuple[str, str, str, str]]) -> None:
    """A receipt of TOP_UP units of every target's product at its store, so that the
    soak's redemptions never find them short (its own receipts more than make up)."""
    pairs = sorted({(sku, store) for _, store, sku, _ in targets})
    for start in range(0, len(pairs), 1000):
        body = {"events": [{"event_id": f"soak-top-up-{os.getpid()}-{start + n}", "sku": sku, "location": store,
                            "type": "receipt", "quantity": TOP_UP,
                            "occurred_at": (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)).isoformat()}
                           for n, (sku, store) in enumerate(pairs[start:start + 1000])]}
        answer = post_json(port, "/v1/stock/events", body, headers)
        if answer.get("accepted") != len(body["events"]):
            raise BenchError(f"the stock top-up was not accepted: {str(answer)[:300]}")


def cache_entries(port: int) -> dict[str, float]:
    """{cache: entries, summed over the workers} from /metrics (promo_serving_cache_entries)."""
    answer = get(port, "/metrics", {})
    if answer.status != 200:
        raise BenchError(f"GET /metrics answered {answer.status}")
    entries: dict[str, float] = {}
    for line in answer.body.decode().splitlines():
        if line.startswith("promo_serving_cache_entries{"):
            labels, value = line.rsplit(" ", 1)
            cache = labels.split('cache="', 1)[1].split('"', 1)[0]
            entries[cache] = entries.get(cache, 0.0) + float(value)
    return entries


def still_growing(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """The caches that gained more than 2% (and 50 entries) over a burst."""
    return [cache for cache, n in after.items() if n - before.get(cache, 0.0) > max(50.0, 0.02 * n)]


def warm_up(port: int, headers: dict[str, str], households: Sequence[Household], burst: Any,
            opts: argparse.Namespace, report: Report) -> Load:
    """Unthrottled bursts of the mix until the service is in its steady state: the rate
    within 10% of the burst before, the workers' memory within 2%, and their bounded
    caches (offer plans and terms, affinities) no longer filling; or --warm-max seconds.
    A worker first resolves every campaign's audience, computes each customer's affinity
    on their first request, and fills its caches (up to their bounds, and the SQLite page
    cache of each connection): before that, neither capacity nor memory growth means
    much. Returns the last burst (the capacity)."""
    started = time.monotonic()
    previous: Load | None = None
    memory = worker_memory(port, headers, households)
    entries = cache_entries(port)
    while True:
        load = burst(opts.warm_burst, 0)
        now_memory, now_entries = worker_memory(port, headers, households), cache_entries(port)
        grew = max((now_memory[p]["rss"] / memory[p]["rss"] - 1 for p in now_memory if p in memory), default=1.0)
        filling = still_growing(entries, now_entries)
        rss = ", ".join(f"{m['rss']:.0f}" for m in now_memory.values())
        caches = ", ".join(f"{cache} {n:,.0f}" for cache, n in sorted(now_entries.items()))
        log(f"warm-up: {load.rate:,.0f} req/s, p99 {load.p99_ms:.1f} ms, worker RSS {rss} MB ({grew:+.1%}); "
            f"cache entries {caches}")
        steady = previous is not None and abs(load.rate / previous.rate - 1) < 0.10 and abs(grew) < 0.02 \
            and not filling
        if steady or time.monotonic() - started > opts.warm_max:
            report.add("warm-up", "until steady" if steady else f"stopped after {opts.warm_max} s, not steady",
                       f"{time.monotonic() - started:.0f} s; worker RSS {rss} MB; cache entries {caches}")
            return load
        previous, memory, entries = load, now_memory, now_entries


def admin_key(url: str, model_dir: str) -> str:
    from offers import setup_runtime
    from promo.services import api_keys

    runtime = setup_runtime(url, model_dir)
    try:
        return api_keys.create_key(runtime.unit_of_work(write=True), name=f"bench-soak-{os.getpid()}",
                                   role="admin")[1]
    finally:
        runtime.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the demo database, copied first (default {DEFAULT_URL})")
    parser.add_argument("--model-dir", help="its trained models (as bench/offers.py finds them)")
    parser.add_argument("--minutes", type=float, default=5.0, help="soak duration (default 5)")
    parser.add_argument("--segment", type=int, default=30, help="seconds per measured segment (default 30)")
    parser.add_argument("--share", type=float, default=0.7, help="the soak's rate as a share of capacity (0.7)")
    parser.add_argument("--mix", default=",".join(f"{kind}={share}" for kind, share in MIX),
                        help="the mix, kind=percent (default: %(default)s)")
    parser.add_argument("--warm-burst", type=int, default=30, help="seconds of each warm-up burst (default 30)")
    parser.add_argument("--warm-max", type=int, default=420, help="longest warm-up, seconds (default 420)")
    parser.add_argument("--quick", action="store_true", help="1 minute in 15 s segments, 10 s warm-up bursts")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--min-promoted", type=int, default=3)
    parser.add_argument("--pool", type=int, default=600)
    parser.add_argument("--targets", type=int, default=400, help="(household, product) pairs the writes use")
    parser.add_argument("--log-level", default="WARNING", help="the server's log level (default WARNING: minutes "
                                                               "of INFO request lines would only fill the disk)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--tmpdir")
    opts = parser.parse_args(argv)
    try:
        opts.mix = {kind: int(share) for kind, share in (part.split("=") for part in opts.mix.split(","))}
    except ValueError:
        parser.error(f"--mix: kind=percent,... not {opts.mix!r}")
    if set(opts.mix) - {kind for kind, _ in MIX} or sum(opts.mix.values()) != 100:
        parser.error(f"--mix: kinds among {', '.join(kind for kind, _ in MIX)}, percents adding up to 100")
    if opts.quick:
        opts.minutes, opts.segment, opts.warm_burst, opts.warm_max = 1.0, 15, 10, 60
    return opts


def soak(opts: argparse.Namespace, tmp: Path, report: Report) -> list[str]:
    rng = random.Random(opts.seed)
    url, model_dir = prepare_database(opts, tmp)
    setup = seed(url, model_dir, opts)
    key = admin_key(url, model_dir)
    headers = {"Authorization": f"Bearer {key}"}
    unlimited = {code for i, code in enumerate(setup.campaigns) if i % LIMITED_EVERY != 2}
    problems: list[str] = []
    log("starting promo under gunicorn, 2 workers")
    with promo_server(url, model_dir, tmp, opts.log_level) as port:
        targets = redemption_targets(port, headers, setup.households, unlimited, opts.targets, rng)
        top_up(port, headers, targets)
        log(f"{len(targets)} (household, product, campaign) targets for the writes, each topped up with "
            f"{TOP_UP} units")
        runs = iter(range(1, 10_000))

        def burst(seconds: int, delay_ms: int) -> Load:
            script = write_script(tmp, f"r{next(runs)}", setup, targets, key, delay_ms, opts.seed, opts.mix)
            return run_wrk(port, script, seconds, opts)

        capacity = warm_up(port, headers, setup.households, burst, opts, report)
        report.add("capacity", "mix, no pauses, steady", f"{capacity.rate:,.0f} req/s, p50 {capacity.p50_ms:.1f} / "
                   f"p99 {capacity.p99_ms:.1f} ms, {capacity.non2xx + capacity.socket_errors} errors")
        if capacity.non2xx or capacity.socket_errors:
            problems.append(f"capacity run: {capacity.non2xx} non-2xx ({capacity.example})")
        target = opts.share * capacity.rate
        # Each connection pauses so that connections x 1000 / (pause + latency) comes to the target.
        delay_ms = max(0, round(opts.connections * 1000 / target - capacity.p50_ms))
        for _ in range(4):                 # the pause that the measured rate says, until within 10%
            calibration = burst(10, delay_ms)
            if calibration.rate <= 0 or abs(calibration.rate / target - 1) < 0.10:
                break
            cycle_ms = opts.connections * 1000 / calibration.rate        # pause + time in flight, measured
            delay_ms = max(0, round(delay_ms + opts.connections * 1000 / target - cycle_ms))
            log(f"calibrating: {calibration.rate:,.0f} req/s against {target:,.0f}: a {delay_ms} ms pause")
        log(f"soak: {opts.minutes:g} min at {opts.share:.0%} of {capacity.rate:,.0f} req/s "
            f"(a {delay_ms} ms pause per connection)")
        memory_first = worker_memory(port, headers, setup.households)
        segments: list[Load] = []
        rss_by_segment: list[list[float]] = []      # each worker's, in pid order, at each segment's end
        ends = time.monotonic() + opts.minutes * 60
        while time.monotonic() < ends - opts.segment / 2:
            segments.append(burst(opts.segment, delay_ms))
            load = segments[-1]
            rss = [memory_of(pid)["rss"] for pid in sorted(memory_first)]
            rss_by_segment.append(rss)
            log(f"segment {len(segments)}: {load.rate:,.0f} req/s, p99 {load.p99_ms:.1f} ms, {load.non2xx} non-2xx; "
                f"worker RSS {', '.join(f'{m:.0f}' for m in rss)} MB")
        memory_last = worker_memory(port, headers, setup.households)

    errors = sum(load.non2xx + load.socket_errors for load in segments)
    for number, load in enumerate(segments, 1):
        report.add("soak", f"segment {number} ({opts.segment} s)",
                   f"{load.rate:,.0f} req/s ({load.rate / capacity.rate:.0%}), p50 {load.p50_ms:.1f} / "
                   f"p99 {load.p99_ms:.1f} ms, {load.non2xx + load.socket_errors} errors")
    if errors:
        example = next((load.example for load in segments if load.example), "")
        problems.append(f"{errors} errors during the soak ({example})")
    p99s = [load.p99_ms for load in segments]
    median = statistics.median(p99s)
    stable = p99s[-1] <= P99_LAST_OVER_FIRST * p99s[0] and max(p99s) <= P99_OVER_MEDIAN * median
    if not stable:
        problems.append(f"p99 not stable: first {p99s[0]:.1f}, last {p99s[-1]:.1f}, max {max(p99s):.1f}, "
                        f"median {median:.1f} ms")
    total = sum(load.requests for load in segments)
    report.add("soak", "errors", f"{errors} in {total:,} requests", "0", errors == 0)
    report.add("soak", "p99 over the segments", f"first {p99s[0]:.1f}, last {p99s[-1]:.1f}, median {median:.1f}, "
               f"max {max(p99s):.1f} ms", f"last <= {P99_LAST_OVER_FIRST}x first, max <= {P99_OVER_MEDIAN}x median",
               stable)
    for pid in sorted(set(memory_first) & set(memory_last)):
        before, after = memory_first[pid], memory_last[pid]
        growth = after["rss"] / before["rss"] - 1
        report.add("soak", f"worker {pid} RSS (PSS)", f"{before['rss']:.0f} -> {after['rss']:.0f} MB ({growth:+.1%}); "
                   f"PSS {before['pss']:.0f} -> {after['pss']:.0f} MB", f"< +{MEMORY_GROWTH:.0%}",
                   growth < MEMORY_GROWTH)
        if growth >= MEMORY_GROWTH:
            problems.append(f"worker {pid}: RSS grew {growth:.1%}")
    if len(rss_by_segment) >= 2:
        half = len(rss_by_segment) // 2
        report.add("soak", "worker RSS by segment",
                   "; ".join(", ".join(f"{m:.0f}" for m in rss) for rss in rss_by_segment) + " MB; second half "
                   + ", ".join(f"{last / mid - 1:+.1%}" for mid, last in zip(rss_by_segment[half - 1],
                                                                            rss_by_segment[-1])))
    if len(set(memory_first) & set(memory_last)) < 2:
        problems.append("could not read both workers' memory at the start and at the end (a worker restarted?)")
    return problems


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    require_wrk()
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    started = time.perf_counter()
    load_before = os.getloadavg()
    report = Report()
    print(f"promo soak: SQLite; {os.cpu_count()} CPUs, load average {load_before[0]:.1f} at start; "
          f"{opts.minutes:g} min at {opts.share:.0%} of capacity; wrk -t{opts.threads} -c{opts.connections}",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="promo-bench-soak-", dir=opts.tmpdir) as tmp_name:
        try:
            problems = soak(opts, Path(tmp_name), report)
        except BenchError as exc:
            print(f"\nbench/soak.py FAILED: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    print()
    print(f"summary: SQLite; {time.perf_counter() - started:.0f} s; load average {load_before[0]:.1f} at start, "
          f"{os.getloadavg()[0]:.1f} at end, {os.cpu_count()} CPUs")
    print(f"command: {command}")
    print(report.table())
    if problems:
        print("\nFAILED: " + "; ".join(problems), file=sys.stderr)
        raise SystemExit(1)
    print("\nevery goal met: no error, a stable p99, worker memory growth under 5%")


if __name__ == "__main__":
    main()
