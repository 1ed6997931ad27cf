"""Redemptions racing from several processes (8 threads each) on the suite's database:
caps, budgets, per-customer limits and code uses never pass their limit, repeats of one
idempotency key are one redemption, and racing cancellations give back once. On SQLite
the writers take turns; on PostgreSQL (make test-pg, run by .ci/run) these are true races
on the counters' rows."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from promo.adapters.orm import Campaign, CouponCode, Redemption, StockReservation
from promo.services import campaign_lifecycle, campaigns, catalog, coupon_codes, redemptions
from promo.services.stock import ingest_events
from tests.integration.test_stock_concurrency import read_line

WORKER = Path(__file__).with_name("checkout_worker.py")
PROJECT_ROOT = WORKER.parents[2]
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
PROCESSES = 3

pytestmark = pytest.mark.slow


@pytest.fixture
def store(runtime) -> Any:
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": "milk", "name": "Milk", "price": 2.0, "currency": "USD"}])
    catalog.upsert_locations(runtime.unit_of_work(write=True), [
        {"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
    ingest_events(runtime.unit_of_work(write=True), runtime.stock, [
        {"event_id": "stock-in", "sku": "milk", "location": "S1", "type": "receipt", "quantity": 100_000,
         "occurred_at": NOW, "reason": None, "reservation_id": None, "expires_at": None, "eta": None}])
    return runtime


def campaign(runtime, **changes: Any) -> str:
    body = {"name": "Race", "starts_at": NOW - dt.timedelta(hours=1), "ends_at": NOW + dt.timedelta(days=1),
            "channels": ["store"], "products": {"skus": ["milk"]}, "discount": {"type": "percent", "value": 10},
            **changes}
    code = campaigns.create_campaign(runtime.unit_of_work(write=True), body, actor="tester")["id"]
    campaign_lifecycle.transition(runtime, code, "activate", actor="tester", override_reason="test")
    return code


def body(key: str, customer: str, quantity: int = 1, **named: Any) -> dict:
    return {"redeem": {"idempotency_key": key, "customer": customer, "channel": "store", "location": "S1",
                       "lines": [{"sku": "milk", "quantity": quantity, "unit_price": Decimal("2.00")}], **named}}


def race(tmp_path: Path, database_url: str, requests: list[dict]) -> list[list]:
    """Split the requests over PROCESSES worker processes, start them together, and return
    every outcome (in no particular order across processes)."""
    workers = []
    for n in range(PROCESSES):
        path = tmp_path / f"requests-{n}.json"
        path.write_text(json.dumps(requests[n::PROCESSES], default=str))
        workers.append(subprocess.Popen(
            [sys.executable, str(WORKER), database_url, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}))
    try:
        assert [read_line(w) for w in workers] == ["ready"] * PROCESSES
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        return [outcome for worker in workers for outcome in read_line(worker)]
    finally:
        for worker in workers:
            worker.stdin.close()
            worker.wait(timeout=60)
            worker.stdout.close()
            worker.stderr.close()


def counters(runtime, code: str) -> tuple[int, int, int, Decimal]:
    """(campaign's count, its discount in cents, redemption rows not cancelled, their discount)."""
    with runtime.unit_of_work() as uow:
        row = uow.session.scalars(select(Campaign).where(Campaign.code == code)).one()
        stored, spent = uow.session.execute(select(func.count(), func.coalesce(func.sum(Redemption.discount_total), 0))
                                            .where(Redemption.campaign_id == row.id,
                                                   Redemption.cancelled_at.is_(None))).one()
        return row.redeemed_count, row.discount_spent_cents, stored, Decimal(str(spent)).quantize(Decimal("0.01"))


def test_200_racing_redemptions_against_a_cap_of_50_give_exactly_50(store, tmp_path, database_url):
    code = campaign(store, limits={"max_redemptions": 50})

    outcomes = race(tmp_path, database_url, [body(f"cap-{n:04d}", f"c{n}", campaign=code) for n in range(200)])

    assert Counter(o[1] for o in outcomes) == {"redeemed": 50, "max_redemptions_reached": 150}
    assert counters(store, code)[:3] == (50, 50 * 20, 50)
    with store.unit_of_work() as uow:
        held = uow.session.scalar(select(func.coalesce(func.sum(StockReservation.quantity), 0))
                                  .where(StockReservation.state == "open"))
    assert held == 50


def test_a_budget_is_never_overspent_by_one_cent(store, tmp_path, database_url):
    code = campaign(store, limits={"budget": 10.0}, discount={"type": "amount_off", "value": 0.3})

    # 1 to 3 units each: 0.30, 0.60 or 0.90 off; 90 requests could take 54.00.
    outcomes = race(tmp_path, database_url,
                    [body(f"budget-{n:04d}", f"c{n}", quantity=1 + n % 3, campaign=code) for n in range(90)])

    count, cents, stored, spent = counters(store, code)
    assert Counter(o[1] for o in outcomes)["redeemed"] == stored == count
    assert spent == Decimal(cents) / 100 and spent <= Decimal("10.00")
    assert spent >= Decimal("9.10")         # the refused ones were those that would have passed it
    assert {o[1] for o in outcomes} == {"redeemed", "budget_exhausted"}


def test_a_single_use_code_is_used_once_among_50_racing_requests(store, tmp_path, database_url):
    code = campaign(store)
    issued = coupon_codes.issue(store.unit_of_work(write=True), code, {"count": 1}, actor="tester")
    coupon = issued["codes"][0]["code"]

    outcomes = race(tmp_path, database_url, [body(f"code-{n:04d}", f"c{n}", code=coupon) for n in range(50)])

    assert Counter(o[1] for o in outcomes) == {"redeemed": 1, "code_used": 49}
    with store.unit_of_work() as uow:
        assert uow.session.scalars(select(CouponCode.uses).where(CouponCode.code == coupon)).one() == 1
    assert counters(store, code)[0] == 1


def test_racing_repeats_of_one_key_are_one_redemption_with_one_answer(store, tmp_path, database_url):
    code = campaign(store, limits={"per_customer": 5})

    outcomes = race(tmp_path, database_url, [body("same-key-0001", "ann", campaign=code) for _ in range(48)])

    assert len({o[0] for o in outcomes}) == 1 and outcomes[0][0] is not None
    assert Counter(o[1] for o in outcomes) == {"redeemed": 1, "replayed": 47}
    assert counters(store, code)[:3] == (1, 20, 1)


def test_racing_cancellations_give_back_once(store, tmp_path, database_url):
    code = campaign(store, limits={"max_redemptions": 1})
    answer, _ = redemptions.redeem(store, store.unit_of_work(write=True),
                                   body("to-cancel-1", "ann", quantity=4, campaign=code)["redeem"], caller="tester")

    outcomes = race(tmp_path, database_url, [{"cancel": answer["redemption_id"]} for _ in range(24)])

    assert {o[1] for o in outcomes} == {"cancelled"}
    assert counters(store, code)[:3] == (0, 0, 0)
    with store.unit_of_work() as uow:
        assert uow.session.get(StockReservation, answer["reservations"][0]["reservation_id"]).state == "released"
        assert uow.session.scalar(select(func.count()).where(StockReservation.state == "open")) == 0
    # The cap is free again: one more redemption goes through, and only one.
    again, made = redemptions.redeem(store, store.unit_of_work(write=True),
                                     body("after-cancel", "bob", campaign=code)["redeem"], caller="tester")
    assert made and again["status"] == "redeemed"
