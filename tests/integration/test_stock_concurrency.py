"""Races on the stock log: threads and processes writing at once, a process killed mid-batch,
and another process's view, on the real database (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest
from sqlalchemy import text

from promo.domain.errors import InvalidInput
from promo.services import catalog, stock
from promo.services.stock import ingest_events, verify
from tests.conftest import empty_all_tables

WORKER = Path(__file__).with_name("stock_worker.py")
PROJECT_ROOT = WORKER.parents[2]
THREADS = 8


@pytest.fixture
def shop(runtime) -> Any:
    """Products p1..p3 at stores L1..L3."""
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": f"p{i}", "name": f"P{i}", "price": 1.0, "currency": "USD"} for i in (1, 2, 3)])
    catalog.upsert_locations(runtime.unit_of_work(write=True), [
        {"code": f"L{i}", "name": f"L{i}", "kind": "store", "channels": ["store"]} for i in (1, 2, 3)])
    return runtime


def event(event_id: str, kind: str, quantity: int, sku: str = "p1", location: str = "L1", **extra: Any) -> dict:
    return {"event_id": event_id, "sku": sku, "location": location, "type": kind, "quantity": quantity,
            "occurred_at": dt.datetime.now(dt.timezone.utc), "reason": "test" if kind == "adjustment" else None,
            "reservation_id": None, "expires_at": None, "eta": None, **extra}


def reserve(event_id: str, quantity: int = 1, reservation_id: str | None = None, **where: Any) -> dict:
    return event(event_id, "reserve", quantity, reservation_id=reservation_id or event_id, **where)


def send(runtime, *events: dict) -> dict:
    return ingest_events(runtime.unit_of_work(write=True), runtime.stock, list(events))


def race(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run the jobs on up to THREADS threads that all start at the same moment (each thread
    takes every THREADS-th job); return their results in order, re-raise any failure."""
    lanes = [list(range(start, len(jobs), THREADS)) for start in range(min(THREADS, len(jobs)))]
    barrier = threading.Barrier(len(lanes))
    results: list[Any] = [None] * len(jobs)

    def run(lane: list[int]) -> None:
        barrier.wait(timeout=30)
        for index in lane:
            results[index] = jobs[index]()

    with ThreadPoolExecutor(len(lanes)) as pool:
        for future in [pool.submit(run, lane) for lane in lanes]:
            future.result()
    return results


def scalar(runtime, sql: str, **params: Any) -> Any:
    with runtime.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar_one()


def seqs(runtime) -> list[int]:
    with runtime.engine.connect() as connection:
        return list(connection.execute(text("SELECT seq FROM stock_events ORDER BY seq")).scalars())


def positions(runtime) -> dict[tuple[int, int], tuple[int, ...]]:
    """The positions table itself, once brought up to the log's head (it may trail the log)."""
    stock.bring_positions_forward(runtime.unit_of_work(write=True))
    with runtime.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT product_id, location_id, on_hand, reserved, safety_stock, inbound FROM stock_positions")).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows if tuple(r[2:]) != (0, 0, 0, 0)}


def assert_agreement(runtime) -> dict:
    report = verify(runtime.unit_of_work(), runtime.stock)
    assert report["log_vs_table"] == [] and report["view_vs_table"] == [], report
    assert report["ok"] is True
    return report


def assert_gapless(runtime) -> int:
    found = seqs(runtime)
    assert found == list(range(1, len(found) + 1))
    assert scalar(runtime, "SELECT last_seq FROM stock_sequence") == len(found)
    return len(found)


def on_hand_and_reserved(runtime, sku: str = "p1", location: str = "L1") -> tuple[int, int]:
    state = runtime.stock.view.position(runtime.stock.catalog.product_ids([sku])[sku],
                                        runtime.stock.catalog.location_id(location))
    return state.on_hand, state.reserved


# --- threads ------------------------------------------------------------------------------

def test_threads_racing_for_the_last_units_never_reserve_more_than_there_is(shop):
    send(shop, event("stock-in", "receipt", 10))

    results = race([lambda i=i: send(shop, reserve(f"r{i}")) for i in range(40)])  # 8 threads, 5 each

    assert sum(r["accepted"] for r in results) == 10
    refusals = [item["reason"] for r in results for item in r["refused"]]
    assert refusals == ["insufficient_stock"] * 30
    assert scalar(shop, "SELECT COUNT(*) FROM stock_reservations WHERE state = 'open'") == 10
    assert list(positions(shop).values()) == [(10, 10, 0, 0)]
    assert_agreement(shop)
    assert on_hand_and_reserved(shop) == (10, 10)
    assert assert_gapless(shop) == 41


def test_threads_racing_with_multi_unit_reservations_never_overbook(shop):
    send(shop, event("stock-in", "receipt", 25))
    sizes = [random.Random(i).randint(1, 6) for i in range(24)]

    results = race([lambda i=i: send(shop, reserve(f"r{i}", sizes[i])) for i in range(24)])

    granted = [sizes[i] for i, r in enumerate(results) if r["accepted"]]
    assert sum(granted) <= 25
    # Nothing was given back meanwhile, so what was left at each refusal was at least what
    # is left now: every refused reservation must be larger than that.
    assert all(sizes[i] > 25 - sum(granted) for i, r in enumerate(results) if not r["accepted"])
    assert all(r["refused"][0]["reason"] == "insufficient_stock" for r in results if not r["accepted"])
    assert scalar(shop, "SELECT COALESCE(SUM(quantity), 0) FROM stock_reservations WHERE state = 'open'") \
        == sum(granted)
    assert_agreement(shop)


def test_the_same_event_sent_by_many_threads_at_once_is_stored_once(shop):
    batch = [event("once-receipt", "receipt", 5), reserve("once-reserve", 2)]

    results = race([lambda: send(shop, *batch) for _ in range(THREADS * 2)])

    assert sum(r["accepted"] for r in results) == 2
    assert sum(r["duplicates"] for r in results) == 2 * (THREADS * 2 - 1)
    assert scalar(shop, "SELECT COUNT(*) FROM stock_events") == 2
    assert scalar(shop, "SELECT COUNT(*) FROM stock_reservations") == 1
    assert positions(shop) == {(1, 1): (5, 2, 0, 0)}
    assert_agreement(shop)


def test_one_event_id_sent_for_different_positions_at_once_is_stored_once(shop):
    """No position lock orders these batches: the unique event_id settles it (and a retry)."""
    where = [(f"p{1 + i % 3}", f"L{1 + (i // 3) % 3}") for i in range(9)]

    results = race([lambda s=s, l=l: send(shop, event("the-one", "receipt", 7, sku=s, location=l))
                    for s, l in where])

    assert sorted(r["accepted"] for r in results) == [0] * 8 + [1]
    assert scalar(shop, "SELECT COUNT(*) FROM stock_events") == 1
    assert list(positions(shop).values()) == [(7, 0, 0, 0)]
    assert_agreement(shop)


def test_one_reservation_id_reserved_at_different_positions_at_once_holds_once(shop):
    send(shop, *[event(f"in-{l}", "receipt", 5, location=l) for l in ("L1", "L2", "L3")])

    results = race([lambda i=i: send(shop, reserve(f"attempt-{i}", reservation_id="shared",
                                                       location=f"L{1 + i % 3}")) for i in range(9)])

    assert sum(r["accepted"] for r in results) == 1
    assert sorted(item["reason"] for r in results for item in r["refused"]) == ["reservation_exists"] * 8
    assert scalar(shop, "SELECT COUNT(*) FROM stock_reservations") == 1
    assert sum(row[1] for row in positions(shop).values()) == 1
    assert_agreement(shop)


def test_the_sequence_stays_gapless_under_concurrent_mixed_batches(shop):
    rng = random.Random(7)
    skus, locations = ("p1", "p2", "p3"), ("L1", "L2", "L3")
    shared_ids = [f"shared-{i}" for i in range(6)]

    def batch(thread: int, number: int) -> list[dict]:
        events = []
        for k in range(rng.randint(2, 6)):
            sku, location = rng.choice(skus), rng.choice(locations)
            kind = rng.choice(["receipt", "sale", "reserve", "release", "adjustment", "count"])
            # A shared id races other threads' batches; within one batch it appears once
            # (a repeat there with other content would refuse the batch).
            free = [i for i in shared_ids if i not in {e["event_id"] for e in events}]
            event_id = rng.choice(free) if rng.random() < 0.15 else f"t{thread}-b{number}-{k}"
            if kind in ("reserve", "release"):
                rid = f"res-{rng.randint(0, 15)}"
                events.append(event(event_id, kind, rng.randint(1, 4), sku, location, reservation_id=rid))
            elif kind == "adjustment":
                events.append(event(event_id, kind, rng.choice([-2, -1, 1, 3]), sku, location))
            else:
                events.append(event(event_id, kind, rng.randint(0 if kind == "count" else 1, 8), sku, location))
        if number % 4 == 3:  # now and then a batch that fails validation and writes nothing
            events.append(event(f"t{thread}-b{number}-bad", "receipt", 1, sku="unknown"))
        return events

    plans = [[batch(t, n) for n in range(8)] for t in range(THREADS)]

    def run(plan: list[list[dict]]) -> int:
        refused_batches = 0
        for events in plan:
            try:
                send(shop, *events)
            except InvalidInput:
                refused_batches += 1
        return refused_batches

    assert sum(race([lambda p=p: run(p) for p in plans])) == THREADS * 2

    stored = assert_gapless(shop)
    sent_ids = {e["event_id"] for plan in plans for n, events in enumerate(plan) if n % 4 != 3 for e in events}
    assert stored == len(sent_ids)
    assert scalar(shop, "SELECT COUNT(DISTINCT event_id) FROM stock_events") == stored
    assert scalar(shop, "SELECT COUNT(*) FROM stock_events WHERE event_id LIKE '%-bad'") == 0
    assert_agreement(shop)


def test_a_view_whose_log_was_replaced_and_refilled_between_two_polls_reloads(shop):
    send(shop, *[event(f"old-{i}", "receipt", 1) for i in range(5)])
    assert_agreement(shop)
    shop.stock.follower.stop()   # hold the follower between two polls
    empty_all_tables(shop.engine)   # the database restored from an empty (or older) backup
    catalog.upsert_products(shop.unit_of_work(write=True), [
        {"sku": f"p{i}", "name": f"P{i}", "price": 1.0, "currency": "USD"} for i in (1, 2, 3)])
    catalog.upsert_locations(shop.unit_of_work(write=True), [
        {"code": f"L{i}", "name": f"L{i}", "kind": "store", "channels": ["store"]} for i in (1, 2, 3)])
    send(shop, *[event(f"new-{i}", "receipt", 2, sku="p2") for i in range(7)])

    shop.stock.follower.catch_up()

    seq, view = shop.stock.view.all_positions()
    assert seq == 7
    assert {key: row for key, row in view.items() if row != (0, 0, 0, 0)} == positions(shop)


# --- processes ----------------------------------------------------------------------------

def start_worker(*args: str, **settings: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT),
           **{f"PROMO_{name.upper()}": value for name, value in settings.items()}}
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=env)


def read_line(worker: subprocess.Popen) -> Any:
    line = worker.stdout.readline()
    if not line:
        worker.wait(timeout=30)
        raise AssertionError(f"worker ended with {worker.returncode}: {worker.stderr.read()[-3000:]}")
    return json.loads(line)


def finish(worker: subprocess.Popen) -> int:
    try:
        return worker.wait(timeout=60)
    finally:
        for stream in (worker.stdin, worker.stdout, worker.stderr):
            if stream:
                stream.close()


# Workers that follow their stock view write as service workers do (on SQLite from the
# view, with the positions table brought forward every few events); the others read the table.
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reserve", "reserve-following"])
def test_processes_racing_for_the_last_units_never_reserve_more_than_there_is(shop, database_url, mode):
    send(shop, event("stock-in", "receipt", 10))
    workers = [start_worker(mode, database_url, "p1", "L1", f"proc{n}", "20", stock_positions_lag="4")
               for n in range(3)]
    try:
        assert [read_line(w) for w in workers] == ["ready"] * 3
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results = [read_line(w) for w in workers]
    finally:
        codes = [finish(w) for w in workers]

    assert codes == [0, 0, 0]
    assert max(r["began"] for r in results) < min(r["ended"] for r in results)   # they did overlap
    assert sum(r["applied"] for r in results) == 10
    assert sum(r["refused"].get("insufficient_stock", 0) for r in results) == 50
    assert scalar(shop, "SELECT COUNT(*) FROM stock_reservations WHERE state = 'open'") == 10
    assert_agreement(shop)
    assert on_hand_and_reserved(shop) == (10, 10)
    assert assert_gapless(shop) == 61


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["crash", "crash-following"])
def test_a_process_killed_mid_batch_leaves_all_of_it_or_nothing(shop, database_url, mode):
    eta = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    send(shop, event("before-1", "receipt", 4), event("before-2", "inbound", 3, eta=eta))
    before = positions(shop)

    worker = start_worker(mode, database_url, "p1", "L1", "doomed", "2000")
    try:
        last_words = read_line(worker)
    finally:
        code = finish(worker)

    assert code == 1
    assert last_words == {"appended": 2000}  # the events were in the log when it died
    assert scalar(shop, "SELECT COUNT(*) FROM stock_events WHERE event_id LIKE 'doomed-%'") == 0
    assert positions(shop) == before
    assert assert_gapless(shop) == 2
    assert_agreement(shop)

    after = send(shop, event("after-1", "sale", 1), event("after-2", "receipt", 2, sku="p2"))

    assert after["accepted"] == 2 and after["last_seq"] == 4
    assert assert_gapless(shop) == 4
    assert_agreement(shop)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["crash-after-commit", "crash-after-commit-following"])
def test_a_process_killed_right_after_its_commit_leaves_all_of_it_and_a_retry_adds_nothing(shop, database_url,
                                                                                            mode):
    send(shop, event("before-1", "receipt", 4))
    (product, location), (on_hand, *rest) = next(iter(positions(shop).items()))

    worker = start_worker(mode, database_url, "p1", "L1", "acked", "2000")
    try:
        last_words = read_line(worker)
    finally:
        code = finish(worker)

    assert code == 1
    assert last_words == {"committed": 2000}     # it died before answering: the client retries
    assert scalar(shop, "SELECT COUNT(DISTINCT event_id) FROM stock_events WHERE event_id LIKE 'acked-%'") == 2000
    assert positions(shop)[(product, location)] == (on_hand + 2000, *rest)
    assert assert_gapless(shop) == 2001
    assert_agreement(shop)

    retried = send(shop, *[event(f"acked-{i}", "receipt", 1) for i in range(2000)])

    assert (retried["accepted"], retried["duplicates"]) == (0, 2000)
    assert positions(shop)[(product, location)] == (on_hand + 2000, *rest)
    assert assert_gapless(shop) == 2001
    assert_agreement(shop)


@pytest.mark.slow
def test_another_process_view_equals_the_database_at_rest(shop, database_url):
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    send(shop, event("a1", "receipt", 10), event("a2", "receipt", 6, sku="p2", location="L2"),
         reserve("a3", 3, reservation_id="r1"), event("a4", "inbound", 8, sku="p3", location="L3", eta=soon),
         event("a5", "inbound", 4, sku="p3", location="L3", eta=soon + dt.timedelta(days=1)))
    worker = start_worker("follow", database_url)
    try:
        ready = read_line(worker)
        # Written after its snapshot: it has to follow the log to see these.
        send(shop, event("b1", "sale", 2), event("b2", "release", 0, reservation_id="r1"),
             reserve("b3", 2, sku="p2", location="L2", expires_at=soon),
             event("b4", "receipt", 5, sku="p3", location="L3"),                    # 5 of a4's 8
             event("b5", "receipt", 1, sku="p3", location="L3", inbound_id="a5"),   # 1 of a5's 4
             reserve("b6", 50, sku="p2", location="L2"))
        last = send(shop, event("c1", "count", 4, sku="p2", location="L2"), event("c2", "adjustment", -1),
                    event("c3", "safety_stock", 1, sku="p3", location="L3"))["last_seq"]
        worker.stdin.write(f"{last}\n")
        worker.stdin.flush()
        seen = read_line(worker)
    finally:
        code = finish(worker)

    assert code == 0
    assert ready["ready"] == 5
    assert seen["as_of_seq"] == last == 14
    theirs = {(p, l): tuple(rest) for p, l, *rest in seen["positions"] if tuple(rest) != (0, 0, 0, 0)}
    assert theirs == positions(shop)
    assert theirs == {(1, 1): (7, 0, 0, 0), (2, 2): (4, 2, 0, 0), (3, 3): (6, 0, 1, 6)}
    their_inbound = [[p, l, dt.datetime.fromisoformat(eta), q] for p, l, eta, q in seen["inbound"]]
    assert their_inbound == [[3, 3, soon, 3], [3, 3, soon + dt.timedelta(days=1), 3]]
    assert_agreement(shop)
