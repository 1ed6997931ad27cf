"""Any batch the API accepts, however extreme its values, leaves a log that a fresh
process loads into the very view the writer holds.

Random events, valid by the schema, go through the whole write path over HTTP: integers
up to the bounds, datetimes anywhere in the accepted range and in any UTC offset, unicode
ids. After each example a fresh view is loaded from the snapshot (as a restarted worker
does) and another follows the log from its start (as a worker that was there all along);
both must equal the writer's view, positions, reservations and expected receipts alike.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from promo.adapters.catalog_index import CatalogIndex
from promo.adapters.stock_follower import StockFollower
from promo.adapters.stock_view import StockView
from promo.api.schemas import CONTROL_CHARACTERS, EARLIEST, LATEST
from promo.domain.stock import MAX_EVENT_QUANTITY
from promo.services import api_keys, catalog, stock
from tests.conftest import empty_all_tables

SKUS = ("é-1", "日本", "a b")
LOCATIONS = ("Ω", "S.1")
TYPES = ("sale", "receipt", "adjustment", "count", "reserve", "release", "inbound", "safety_stock")

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))
moments = st.datetimes(min_value=EARLIEST.replace(tzinfo=None) + dt.timedelta(days=1),
                       max_value=LATEST.replace(tzinfo=None) - dt.timedelta(days=1), timezones=offsets)
ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=12)
quantities = st.one_of(st.integers(1, 3), st.just(MAX_EVENT_QUANTITY), st.integers(1, MAX_EVENT_QUANTITY))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    event: dict[str, Any] = {"event_id": draw(ids), "sku": draw(st.sampled_from(SKUS)),
                             "location": draw(st.sampled_from(LOCATIONS)), "type": kind,
                             "occurred_at": draw(moments).isoformat()}
    if kind == "adjustment":
        event["quantity"] = draw(quantities) * draw(st.sampled_from([1, -1]))
        event["reason"] = draw(st.text(min_size=1, max_size=20).filter(lambda t: not CONTROL_CHARACTERS.search(t))
                               | st.just("ok"))
    elif kind in ("count", "safety_stock"):
        event["quantity"] = draw(st.integers(0, MAX_EVENT_QUANTITY))
    elif kind != "release":
        event["quantity"] = draw(quantities)
    if kind in ("reserve", "release", "sale") and (kind != "sale" or draw(st.booleans())):
        event["reservation_id"] = draw(st.sampled_from(["r1", "r2", "ρ3"]))
    if kind == "reserve" and draw(st.booleans()):
        event["expires_at"] = draw(moments).isoformat()
    if kind == "inbound":
        event["eta"] = draw(moments).isoformat()
    if kind == "receipt" and draw(st.booleans()):
        event["inbound_id"] = draw(ids)
    return event


def loaded_afresh(runtime) -> StockView:
    view = StockView()
    StockFollower(runtime.engine, runtime.session_factory, view, poll_interval=1).load_snapshot()
    return view


def followed_from_the_start(runtime) -> StockView:
    view = StockView()
    follower = StockFollower(runtime.engine, runtime.session_factory, view, poll_interval=1)
    follower.snapshots_loaded = 1        # as if it had loaded an empty snapshot at seq 0
    follower.catch_up()
    assert follower.unreadable_count == 0
    return view


def held(view: StockView) -> tuple[int, dict[tuple[int, int], tuple[int, ...]]]:
    """The view's sequence and its positions; a position at all zeros is the same as none
    (the table keeps zero rows for positions a refused event touched, a follower need not)."""
    seq, positions = view.all_positions()
    return seq, {key: row for key, row in positions.items() if any(row)}


def inbound_of(view: StockView, positions: dict[tuple[int, int], Any]) -> dict[tuple[int, int], list[Any]]:
    return {key: view.next_inbound(*key) for key in positions}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(batches=st.lists(st.lists(events(), min_size=1, max_size=8), min_size=1, max_size=4))
def test_a_fresh_process_loads_the_view_the_writer_holds_whatever_the_api_accepted(client, runtime, batches):
    empty_all_tables(runtime.engine)
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="writer", role="inventory")
    admin = {"Authorization": f"Bearer {token}"}
    catalog.upsert_products(runtime.unit_of_work(write=True), [
        {"sku": sku, "name": sku, "price": 1.0, "currency": "USD"} for sku in SKUS])
    catalog.upsert_locations(runtime.unit_of_work(write=True), [
        {"code": code, "name": code, "kind": "store", "channels": ["store"]} for code in LOCATIONS])
    runtime.stock.catalog = CatalogIndex(runtime.session_factory)
    runtime.stock.follower.load_snapshot()

    for batch in batches:
        response = client.post("/v1/stock/events", json={"events": batch}, headers=admin)
        assert response.status_code in (200, 422), response.get_data(as_text=True)
        if response.status_code == 422:   # only an event_id repeated with other content
            assert "repeats item" in response.get_data(as_text=True)

    runtime.stock.follower.catch_up()
    seq, writer = held(runtime.stock.view)
    for other in (loaded_afresh(runtime), followed_from_the_start(runtime)):
        assert held(other) == (seq, writer)
        assert other.open_reservations() == runtime.stock.view.open_reservations()
        assert inbound_of(other, writer) == inbound_of(runtime.stock.view, writer)
    assert stock.verify(runtime.unit_of_work(), runtime.stock)["ok"]
