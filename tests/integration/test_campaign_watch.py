"""The campaign watch: campaigns start and end on the clock, pause when live stock falls
under their policy and resume on restock, each transition exactly once however many
threads and processes watch, audited with the stock sequence number behind it."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.domain.errors import Conflict
from promo.services import campaign_lifecycle, campaigns, catalog, interactions, stock as stock_service
from promo.services.campaign_watch import CampaignWatch

WORKER = Path(__file__).with_name("campaign_worker.py")
PROJECT_ROOT = WORKER.parents[2]
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def shop(runtime):
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": sku, "name": sku, "price": 3.0, "currency": "USD", "category": "DAIRY"} for sku in ("milk", "cheese")])
    catalog.upsert_locations(runtime.unit_of_work(write=True), [
        {"code": code, "name": code, "kind": "store", "channels": ["store"]} for code in ("S1", "S2")])
    interactions.record_interactions(runtime.unit_of_work(write=True), [
        {"event_id": f"p{n}", "customer": c, "sku": "milk", "type": "purchase", "quantity": 1, "value": 3.0,
         "channel": "store", "location": "S1", "occurred_at": NOW - dt.timedelta(days=2)}
        for n, c in enumerate(("ann", "bob"))])
    return runtime


_seq = iter(range(10**6))


def set_stock(runtime, **levels: int) -> int:
    """milk_S1=0 ...: counts through the stock use case; waits for this process's view."""
    events = [{"event_id": f"w{next(_seq)}", "sku": key.split("_")[0], "location": key.split("_")[1], "type": "count",
               "quantity": qty, "occurred_at": dt.datetime.now(dt.timezone.utc)} for key, qty in levels.items()]
    result = stock_service.ingest_events(runtime.unit_of_work(write=True), runtime.stock, events)
    deadline = time.monotonic() + 5
    while runtime.stock.view.as_of_seq < result["last_seq"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return result["last_seq"]


FULL = {"milk_S1": 40, "milk_S2": 40, "cheese_S1": 40, "cheese_S2": 40}


def make(runtime, status: str = "active", **changes) -> str:
    body = {"name": "Dairy", "starts_at": NOW - dt.timedelta(hours=1), "ends_at": NOW + dt.timedelta(days=3),
            "channels": ["store"], "products": {"categories": ["DAIRY"]},
            "discount": {"type": "percent", "value": 10},
            "stock_policy": {"on_stockout": "pause_campaign", "resume_on_restock": True}, **changes}
    code = campaigns.create_campaign(runtime.unit_of_work(write=True), body, actor="tester")["id"]
    if status == "active":
        campaign_lifecycle.transition(runtime, code, "activate", actor="tester")
    elif status == "scheduled":
        campaign_lifecycle.transition(runtime, code, "schedule", actor="tester")
    return code


def campaign(runtime, code: str) -> dict:
    return campaigns.get_campaign(runtime.unit_of_work(), code)


def events(runtime, code: str) -> list[dict]:
    return campaigns.history(runtime.unit_of_work(), code, after=None, limit=1000).items


def test_a_stock_out_pauses_the_campaign_and_a_restock_resumes_it_each_audited_with_its_seq(shop):
    runtime = shop
    set_stock(runtime, **FULL)
    code = make(runtime)
    assert runtime.campaign_watch.tick() == []

    out = set_stock(runtime, milk_S2=0)
    assert runtime.campaign_watch.tick() == [(code, "paused")]
    assert campaign(runtime, code)["status"] == "paused" and campaign(runtime, code)["paused_by"] == "stock"
    history = events(runtime, code)
    paused = next(e for e in reversed(history) if e["action"] == "paused")
    assert paused["actor"] == "system" and paused["stock_seq"] >= out
    assert paused["details"]["short"] == [{"sku": "milk", "location": "S2"}]
    # The stock event behind it is on the campaign's timeline too.
    stock_out = next(e for e in reversed(history) if e["action"] == "stock.out")
    assert stock_out["details"]["sku"] == "milk" and stock_out["details"]["location"] == "S2"
    assert stock_out["details"]["available"] == 0 and stock_out["stock_seq"] >= out
    assert runtime.campaign_watch.tick() == []

    back = set_stock(runtime, milk_S2=30)
    assert runtime.campaign_watch.tick() == [(code, "resumed")]
    resumed = next(e for e in reversed(events(runtime, code)) if e["action"] == "resumed")
    assert resumed["stock_seq"] >= back
    assert any(e["action"] == "stock.back" for e in events(runtime, code))
    assert campaign(runtime, code)["status"] == "active"


def test_a_tick_judges_again_only_the_campaigns_whose_products_moved_or_changed(shop):
    """Stock events on products a campaign does not promote cost its watch nothing."""
    runtime = shop
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": "bread", "name": "bread", "price": 2.0, "currency": "USD", "category": "BAKERY"}])
    set_stock(runtime, **FULL, bread_S1=10, bread_S2=10)
    dairy = make(runtime)
    make(runtime, name="Bread", products={"categories": ["BAKERY"]})
    judgements = campaign_lifecycle.StockJudgements()

    def watch() -> tuple[list, int]:
        done = campaign_lifecycle.watch_stock(runtime, judgements=judgements)
        return done, judgements.judged_count

    assert watch() == ([], 2)
    assert watch() == ([], 2)                     # nothing moved
    set_stock(runtime, bread_S1=9)
    assert watch() == ([], 3)                     # the bread campaign alone
    set_stock(runtime, milk_S2=0)
    assert watch() == ([(dairy, "paused")], 4)
    assert watch() == ([], 5)                     # its revision moved: judged once more, paused
    assert watch() == ([], 5)
    set_stock(runtime, milk_S2=30)
    assert watch() == ([(dairy, "resumed")], 6)


def test_a_stock_out_and_its_restock_between_two_ticks_are_both_on_the_timeline(shop):
    """A loaded process may look at the log once for both: the watch walks each event, so
    the stock-out is not lost in the net change."""
    runtime = shop
    set_stock(runtime, **FULL)
    code = make(runtime, stock_policy={"on_stockout": "exclude_product"})
    runtime.campaign_watch.tick()

    out = set_stock(runtime, cheese_S1=0)
    back = set_stock(runtime, cheese_S1=25)
    runtime.campaign_watch.tick()

    stock_events = [(e["action"], e["stock_seq"], e["details"]["available"]) for e in events(runtime, code)
                    if e["action"].startswith("stock.")]
    assert stock_events == [("stock.out", out, 0), ("stock.back", back, 25)]


def test_an_override_holds_until_the_stock_meets_the_policy_once(shop):
    runtime = shop
    set_stock(runtime, **{**FULL, "milk_S1": 0})
    code = make(runtime, status="draft")
    campaign_lifecycle.transition(runtime, code, "activate", actor="tester", override_reason="delivery at noon")
    assert campaign(runtime, code)["stock_override"] is True
    assert runtime.campaign_watch.tick() == []

    set_stock(runtime, milk_S1=40)
    assert runtime.campaign_watch.tick() == [(code, "stock_override_lapsed")]
    set_stock(runtime, cheese_S2=0)
    assert runtime.campaign_watch.tick() == [(code, "paused")]
    lifecycle = [e["action"] for e in events(runtime, code) if not e["action"].startswith("stock.")]
    assert lifecycle[-3:] == ["activated", "stock_override_lapsed", "paused"]


def test_exclude_product_keeps_the_campaign_running_until_nothing_is_left(shop):
    runtime = shop
    set_stock(runtime, **FULL)
    code = make(runtime, stock_policy={"on_stockout": "exclude_product"})

    set_stock(runtime, milk_S2=0, cheese_S1=0)
    assert runtime.campaign_watch.tick() == []
    set_stock(runtime, milk_S1=0, cheese_S2=0)
    assert runtime.campaign_watch.tick() == [(code, "paused")]


def test_the_watch_never_resumes_what_a_person_paused_nor_without_resume_on_restock(shop):
    runtime = shop
    set_stock(runtime, **FULL)
    by_person = make(runtime)
    campaign_lifecycle.transition(runtime, by_person, "pause", actor="tester")
    no_resume = make(runtime, stock_policy={"on_stockout": "pause_campaign", "resume_on_restock": False})

    set_stock(runtime, milk_S1=0)
    assert runtime.campaign_watch.tick() == [(no_resume, "paused")]
    set_stock(runtime, milk_S1=40)
    assert runtime.campaign_watch.tick() == []
    assert campaign(runtime, by_person)["paused_by"] == "manual"


def test_a_schedule_starts_and_ends_on_the_clock(shop):
    runtime = shop
    set_stock(runtime, **FULL)
    starts, ends = NOW + dt.timedelta(hours=2), NOW + dt.timedelta(hours=5)
    code = make(runtime, "scheduled", starts_at=starts, ends_at=ends)

    assert runtime.campaign_watch.tick(now=starts - dt.timedelta(seconds=1)) == []
    assert runtime.campaign_watch.tick(now=starts) == [(code, "activated")]
    assert runtime.campaign_watch.tick(now=ends - dt.timedelta(seconds=1)) == []
    assert runtime.campaign_watch.tick(now=ends) == [(code, "ended")]
    assert [(e["action"], e["actor"]) for e in events(runtime, code)] == [
        ("created", "tester"), ("scheduled", "tester"), ("activated", "system"), ("ended", "system")]


def test_a_schedule_whose_stock_is_short_at_its_start_is_paused_by_the_stock_and_resumes_on_restock(shop):
    runtime = shop
    set_stock(runtime, milk_S1=0)
    starts = NOW + dt.timedelta(hours=1)
    code = make(runtime, "scheduled", starts_at=starts, ends_at=NOW + dt.timedelta(days=2))

    assert runtime.campaign_watch.tick(now=starts) == [(code, "paused")]
    paused = events(runtime, code)[-1]
    assert "stock_insufficient" in paused["reason"] and paused["details"]["check"]["policy_met"] is False
    set_stock(runtime, **FULL)
    assert runtime.campaign_watch.tick(now=starts + dt.timedelta(minutes=1)) == [(code, "resumed")]


def test_a_process_whose_stock_view_is_not_loaded_judges_no_campaign_by_it(shop, settings_overrides):
    runtime = shop
    set_stock(runtime, **FULL)
    code = make(runtime)
    scheduled = make(runtime, "scheduled", starts_at=NOW + dt.timedelta(hours=1), ends_at=NOW + dt.timedelta(days=1))
    starting = bootstrap(load_settings(settings_overrides))      # no view loaded: everything reads as zero
    try:
        watch = CampaignWatch(starting, interval=3600)
        assert watch.tick(now=NOW + dt.timedelta(hours=2)) == []
        assert campaign(runtime, code)["status"] == "active" and campaign(runtime, scheduled)["status"] == "scheduled"
        # A person's pause needs no stock; a resume runs the check, which says why it cannot.
        campaign_lifecycle.transition(starting, code, "pause", actor="tester")
        with pytest.raises(Conflict) as behind:
            campaign_lifecycle.transition(starting, code, "resume", actor="tester")
        assert behind.value.reason == "stock_view_behind"
        # Ends need no stock: they still happen on time.
        assert watch.tick(now=NOW + dt.timedelta(days=4)) == [(code, "ended"), (scheduled, "ended")]
    finally:
        starting.close()


def test_a_campaign_that_cannot_be_started_holds_up_no_other(shop):
    runtime = shop
    set_stock(runtime, **FULL)
    starts = NOW + dt.timedelta(hours=1)
    stuck = make(runtime, "scheduled", starts_at=starts, ends_at=NOW + dt.timedelta(days=1),
                 targeting={"type": "model", "top_percent": 10})         # no response model is trained
    fine = make(runtime, "scheduled", starts_at=starts, ends_at=NOW + dt.timedelta(days=1))

    assert runtime.campaign_watch.tick(now=starts) == [(fine, "activated")]
    assert campaign(runtime, stuck)["status"] == "scheduled"


def test_a_worker_whose_view_lags_cannot_undo_a_decision_made_on_fresher_stock(shop, settings_overrides):
    runtime = shop
    set_stock(runtime, **FULL)
    code = make(runtime)
    lagging = bootstrap(load_settings(settings_overrides), follow_stock=True)
    try:
        lagging.stock.follower.stop()      # its view stays where it is: everything in stock
        lagging.stock.follower.last_caught_up = time.monotonic() + 3600   # and it believes it is current
        set_stock(runtime, milk_S1=0)
        assert runtime.campaign_watch.tick() == [(code, "paused")]

        assert CampaignWatch(lagging, interval=3600).tick() == []       # it would resume: its view is older
        assert campaign(runtime, code)["status"] == "paused"
    finally:
        lagging.close()


def test_a_service_restarted_after_a_stock_write_pauses_what_the_crashed_one_did_not(shop, settings_overrides):
    runtime = shop
    set_stock(runtime, **FULL)
    code = make(runtime)
    set_stock(runtime, cheese_S1=0)       # the writing process dies before its watch ticks
    restarted = bootstrap(load_settings(settings_overrides), follow_stock=True)
    try:
        assert restarted.campaign_watch.tick() == [(code, "paused")]
        assert events(runtime, code)[-1]["stock_seq"] == restarted.stock.view.as_of_seq
    finally:
        restarted.close()


def test_racing_watchers_in_two_runtimes_make_each_transition_once(shop, settings_overrides):
    runtime = shop
    other = bootstrap(load_settings(settings_overrides), follow_stock=True)
    try:
        set_stock(runtime, **FULL)
        code = make(runtime)
        seq = set_stock(runtime, cheese_S1=0)
        deadline = time.monotonic() + 5
        while other.stock.view.as_of_seq < seq:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        made: list = []
        barrier = threading.Barrier(8)

        def race(watch) -> None:
            barrier.wait()
            made.extend(watch.tick())

        threads = [threading.Thread(target=race, args=((runtime if i % 2 else other).campaign_watch,))
                   for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert made == [(code, "paused")]
        assert [e["action"] for e in events(runtime, code)].count("paused") == 1
    finally:
        other.close()


def start_worker(settings: dict) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT),
           **{f"PROMO_{name.upper()}": str(value) for name, value in settings.items()},
           "PROMO_CAMPAIGN_WATCH_INTERVAL_MS": "50"}
    worker = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=env)
    assert worker.stdout.readline().strip() == "ready", worker.stderr.read()[-2000:]
    return worker


def test_two_service_processes_start_pause_resume_and_end_a_campaign_exactly_once(shop, settings_overrides):
    runtime = shop
    set_stock(runtime, **FULL)
    begin = dt.datetime.now(dt.timezone.utc)
    code = make(runtime, "scheduled", starts_at=begin + dt.timedelta(seconds=2),
                ends_at=begin + dt.timedelta(seconds=9))
    settings = {k: v for k, v in settings_overrides.items() if k in ("env", "database_url", "model_dir", "log_level")}
    workers = [start_worker(settings) for _ in range(2)]
    try:
        def wait_for(status: str) -> None:
            deadline = time.monotonic() + 20
            while campaign(runtime, code)["status"] != status:
                assert time.monotonic() < deadline, f"never {status}: {campaign(runtime, code)['status']}"
                time.sleep(0.05)

        wait_for("active")
        set_stock(runtime, milk_S1=0)
        wait_for("paused")
        set_stock(runtime, milk_S1=40)
        wait_for("active")
        wait_for("ended")
        time.sleep(0.5)  # let both watchers look again
    finally:
        for worker in workers:
            worker.communicate("stop\n", timeout=30)
    history = events(runtime, code)
    actions = [(e["action"], e["actor"]) for e in history if not e["action"].startswith("stock.")]
    assert actions == [("created", "tester"), ("scheduled", "tester"), ("activated", "system"),
                       ("paused", "system"), ("resumed", "system"), ("ended", "system")]
    # The stock events behind them are on the timeline once each, however many processes watch.
    stock_events = [(e["action"], e["stock_seq"], e["details"]["location"]) for e in history
                    if e["action"].startswith("stock.")]
    assert len(stock_events) == len(set(stock_events)) and ("stock.out" in {a for a, _, _ in stock_events})
    assert all(worker.returncode == 0 for worker in workers)
