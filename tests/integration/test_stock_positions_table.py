"""The positions table as the log's snapshot: on SQLite it trails the log by up to
``stock_positions_lag`` events and is brought forward in bulk; every reader adds the
trailing events. On PostgreSQL each write keeps it at the log's head."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from sqlalchemy import text

from promo.bootstrap import Runtime, bootstrap
from promo.config import load_settings
from promo.services import catalog
from promo.services.stock import ingest_events, verify

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


@pytest.fixture
def shop(runtime: Runtime) -> Runtime:
    catalog.upsert_products(runtime.unit_of_work(write=True),
                            [{"sku": s, "name": s, "price": 1.0, "currency": "USD"} for s in ("p1", "p2")])
    catalog.upsert_locations(runtime.unit_of_work(write=True),
                             [{"code": "L1", "name": "L1", "kind": "store", "channels": ["store"]}])
    return runtime


@pytest.fixture
def unloaded(shop: Runtime, database_url: str) -> Iterator[Runtime]:
    """Another process's runtime whose view was never loaded: its writes read the table."""
    other = bootstrap(load_settings({"database_url": database_url, "env": "test", "log_level": "WARNING"}))
    try:
        yield other
    finally:
        other.close()


def send(runtime: Runtime, *events: dict[str, Any]) -> dict[str, Any]:
    return ingest_events(runtime.unit_of_work(write=True), runtime.stock, list(events), now=NOW)


def event(event_id: str, kind: str, quantity: int, sku: str = "p1", **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "sku": sku, "location": "L1", "type": kind, "quantity": quantity,
            "occurred_at": NOW, **extra}


def heads(runtime: Runtime) -> tuple[int, int]:
    with runtime.engine.connect() as connection:
        return tuple(connection.execute(text("SELECT last_seq, positions_seq FROM stock_sequence")).one())


def raw_table(runtime: Runtime) -> dict[str, tuple[int, ...]]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT p.sku, s.on_hand, s.reserved, s.safety_stock, s.inbound, s.last_seq FROM stock_positions s "
            "JOIN products p ON p.id = s.product_id")).all()
    return {r[0]: tuple(r[1:]) for r in rows}


@pytest.mark.settings(stock_positions_lag=4)
def test_writes_append_to_the_log_and_the_table_follows_in_bulk_once_it_trails_by_the_lag(shop):
    send(shop, event("a", "receipt", 5), event("b", "reserve", 2, reservation_id="r"))
    send(shop, event("c", "reserve", 9, reservation_id="too-many"))   # refused: touches p1 all the same

    if shop.settings.is_sqlite:
        assert heads(shop) == (3, 0) and raw_table(shop) == {}
    else:
        assert heads(shop) == (3, 3) and raw_table(shop) == {"p1": (5, 2, 0, 0, 2)}
    assert verify(shop.unit_of_work(), shop.stock)["ok"] is True

    send(shop, event("d", "sale", 1), event("e", "count", 0, sku="p2"))   # 5 events: 4 or more behind

    assert heads(shop) == (5, 5)
    # p2's count changed nothing, and p1's last applied event is the sale.
    assert raw_table(shop) == {"p1": (4, 2, 0, 0, 4), "p2": (0, 0, 0, 0, 5)}
    assert verify(shop.unit_of_work(), shop.stock)["ok"] is True


def test_a_view_loaded_while_the_table_trails_counts_the_trailing_events(shop, unloaded):
    send(shop, event("a", "receipt", 5), event("b", "reserve", 2, reservation_id="r"),
         event("c", "receipt", 3, sku="p2"))

    unloaded.stock.follower.load_snapshot()

    seq, theirs = unloaded.stock.view.all_positions()
    assert seq == 3
    assert theirs == shop.stock.view.all_positions()[1]
    assert sorted(theirs.values()) == [(3, 0, 0, 0), (5, 2, 0, 0)]


def test_a_write_that_reads_the_table_brings_it_up_to_the_log_first(shop, unloaded):
    send(shop, event("a", "receipt", 5))                 # in the log; on SQLite not yet in the table

    result = send(unloaded, event("b", "reserve", 5, reservation_id="all"))

    assert result["refused"] == []                       # it saw the 5 units received
    assert heads(shop) == (2, 2)
    assert raw_table(shop) == {"p1": (5, 5, 0, 0, 2)}
    assert verify(shop.unit_of_work(), shop.stock)["ok"] is True
