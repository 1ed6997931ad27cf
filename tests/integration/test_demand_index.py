"""Recent demand per product and location: what stock checks spread expected units by."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from promo.adapters import demand_index
from promo.adapters.demand_index import EVEN_SPREAD_WEIGHT, RecentDemand
from promo.services import catalog, interactions

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def sold(runtime):
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": s, "name": s, "price": 1.0, "currency": "USD"} for s in ("a", "b")])
    catalog.upsert_locations(runtime.unit_of_work(write=True), [
        {"code": c, "name": c, "kind": "store", "channels": ["store"]} for c in ("L1", "L2")])

    def sell(*lines):
        interactions.record_interactions(runtime.unit_of_work(write=True), [
            {"event_id": f"{sku}-{loc}-{days}-{n}", "customer": "c", "sku": sku, "type": "purchase", "quantity": qty,
             "value": 1.0, "channel": "store", "location": loc, "occurred_at": NOW - dt.timedelta(days=days)}
            for n, (sku, loc, qty, days) in enumerate(lines)])

    sell(("a", "L1", 6, 1), ("a", "L2", 2, 2), ("b", "L1", 2, 3), ("b", "L2", 5, 60))   # the last is too old
    ids = runtime.stock.catalog.product_ids(["a", "b"])
    return runtime, [ids["a"], ids["b"]], [runtime.stock.catalog.location_id("L1"), runtime.stock.catalog.location_id("L2")], sell


def test_units_count_the_last_four_weeks_of_purchases_by_product_and_location(sold):
    runtime, products, locations, _ = sold
    demand = RecentDemand(runtime.session_factory)
    assert demand.units(products, locations).tolist() == [[6, 2], [2, 0]]


def test_shares_blend_sales_with_an_even_spread_and_sum_to_one(sold):
    runtime, products, locations, _ = sold
    shares = RecentDemand(runtime.session_factory).shares(products, locations)
    even = EVEN_SPREAD_WEIGHT / 4
    assert shares.sum() == pytest.approx(1.0)
    assert shares.ravel().tolist() == pytest.approx([0.8 * 0.6 + even, 0.8 * 0.2 + even, 0.8 * 0.2 + even, even])
    assert RecentDemand(runtime.session_factory).shares(products[:0], locations).size == 0


def test_totals_are_read_again_only_once_stale(sold):
    runtime, products, locations, sell = sold
    demand = RecentDemand(runtime.session_factory, ttl=3600)
    assert demand.units(products, locations)[1, 1] == 0
    sell(("b", "L2", 4, 1))
    assert demand.units(products, locations)[1, 1] == 0 and demand.refresh_if_stale() is False
    demand.ttl = 0
    assert demand.refresh_if_stale() is True
    assert np.array_equal(demand.units(products, locations), np.array([[6, 2], [2, 4]]))


def test_the_totals_are_the_same_read_in_chunks_of_one(sold, monkeypatch):
    runtime, products, locations, _ = sold
    whole = RecentDemand(runtime.session_factory).units(products, locations)
    monkeypatch.setattr(demand_index, "READ_CHUNK", 1)
    assert RecentDemand(runtime.session_factory).units(products, locations).tolist() == whole.tolist() \
        == [[6, 2], [2, 0]]

