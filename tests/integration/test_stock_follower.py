"""The follower that keeps each process's view caught up: resets, gaps and readiness."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import text

from promo.adapters.catalog_index import CatalogIndex
from promo.services import catalog, stock
from tests.conftest import empty_all_tables


def seed(runtime) -> None:
    catalog.upsert_locations(runtime.unit_of_work(write=True),
                             [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
    catalog.upsert_products(runtime.unit_of_work(write=True),
                            [{"sku": s, "name": s, "price": 1.0, "currency": "USD"} for s in ("a", "b")])


def receive(runtime, event_id: str, sku: str, quantity: int) -> int:
    now = dt.datetime.now(dt.timezone.utc)
    return stock.ingest_events(runtime.unit_of_work(write=True), runtime.stock, [
        {"event_id": event_id, "sku": sku, "location": "S1", "type": "receipt", "quantity": quantity,
         "occurred_at": now}], now)["last_seq"]


def test_a_log_that_went_back_makes_the_view_load_a_fresh_snapshot(runtime):
    seed(runtime)
    for n in range(3):
        receive(runtime, f"old-{n}", "a", 5)
    runtime.stock.follower.catch_up()
    assert runtime.stock.view.as_of_seq == 3
    loads = runtime.stock.follower.snapshots_loaded

    empty_all_tables(runtime.engine)       # a restored, older database
    seed(runtime)
    runtime.stock.catalog = CatalogIndex(runtime.session_factory)   # ids changed with the restore
    seq = receive(runtime, "new-1", "b", 2)
    runtime.stock.follower.catch_up()

    assert seq == 1
    assert runtime.stock.follower.snapshots_loaded > loads
    assert stock.verify(runtime.unit_of_work(), runtime.stock)["ok"]
    assert [(p.on_hand, p.product_id) for p in runtime.stock.view.positions_at_location(
        runtime.stock.catalog.location_id("S1"))] == [(2, runtime.stock.catalog.product_ids(["b"])["b"])]


def test_a_gap_in_the_sequence_makes_the_view_load_a_fresh_snapshot(runtime):
    seed(runtime)
    receive(runtime, "g-1", "a", 1)
    runtime.stock.follower.catch_up()
    loads = runtime.stock.follower.snapshots_loaded
    with runtime.engine.begin() as connection:   # something other than promo skipped numbers
        connection.execute(text("UPDATE stock_sequence SET last_seq = last_seq + 5"))
    receive(runtime, "g-2", "a", 1)

    runtime.stock.follower.catch_up()

    assert runtime.stock.follower.snapshots_loaded > loads
    assert runtime.stock.view.as_of_seq == 7
    assert stock.verify(runtime.unit_of_work(), runtime.stock)["ok"]


@pytest.mark.settings(stock_max_lag_ms=300)
def test_readiness_fails_while_the_view_falls_behind_and_recovers(client, runtime):
    assert client.get("/readyz").status_code == 200
    runtime.stock.follower.stop()
    time.sleep(0.6)

    stalled = client.get("/readyz")

    assert stalled.status_code == 503
    assert stalled.json["checks"]["stock_view"]["ok"] is False
    runtime.stock.follower.catch_up()
    assert client.get("/readyz").status_code == 200
