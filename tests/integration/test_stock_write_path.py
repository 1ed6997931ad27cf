"""Two processes' views writing to one database, each behind the other's last batch.

On SQLite a write reads positions from its own process's view plus the log rows that
view has not applied yet (another process's latest batch); these tests hold both
followers still (a one-minute poll), so that every write meets rows its view has not
seen, and check that it decides as the positions table would. On PostgreSQL, which
locks the table's rows instead, the same outcomes hold.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from sqlalchemy import text

from promo.adapters import stock_follower
from promo.bootstrap import Runtime, bootstrap
from promo.config import load_settings
from promo.services import catalog
from promo.services.stock import ingest_events, verify

T0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=1)
STILL = 60_000    # ms between polls: the followers never catch up on their own here


@pytest.fixture
def first(runtime: Runtime) -> Runtime:
    catalog.upsert_products(runtime.unit_of_work(write=True),
                            [{"sku": "p1", "name": "P1", "price": 1.0, "currency": "USD"}])
    catalog.upsert_locations(runtime.unit_of_work(write=True),
                             [{"code": "L1", "name": "L1", "kind": "store", "channels": ["store"]}])
    return runtime


@pytest.fixture
def second(first: Runtime, database_url: str) -> Iterator[Runtime]:
    """Another process's runtime on the same database (its own view and follower)."""
    other = bootstrap(load_settings({"database_url": database_url, "env": "test", "log_level": "WARNING",
                                     "stock_poll_interval_ms": STILL}), follow_stock=True)
    try:
        yield other
    finally:
        other.close()


def send(runtime: Runtime, now: dt.datetime, *events: dict[str, Any]) -> dict[str, Any]:
    return ingest_events(runtime.unit_of_work(write=True), runtime.stock, list(events), now=now)


def event(event_id: str, kind: str, quantity: int, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "sku": "p1", "location": "L1", "type": kind, "quantity": quantity,
            "occurred_at": T0, "reason": None, "reservation_id": None, "expires_at": None, "eta": None, **extra}


def head(runtime: Runtime) -> int:
    with runtime.engine.connect() as connection:
        return connection.execute(text("SELECT last_seq FROM stock_sequence")).scalar_one()


def assert_behind(runtime: Runtime) -> None:
    """The scenario these tests set up: the view has not applied the other process's batch.
    Guaranteed on SQLite, where only the (held) poll moves a view; on PostgreSQL a NOTIFY
    may wake the follower at once, and the write path there locks the table's rows and
    never reads the view, so the outcomes checked after do not depend on it."""
    if runtime.settings.is_sqlite:
        assert runtime.stock.view.as_of_seq < head(runtime)


def assert_all_agree(*runtimes: Runtime) -> None:
    for runtime in runtimes:
        report = verify(runtime.unit_of_work(), runtime.stock)
        assert report["ok"] is True, report


@pytest.mark.settings(stock_poll_interval_ms=STILL)
def test_a_write_counts_the_other_process_batch_its_view_has_not_applied(first, second):
    send(first, T0, event("in", "receipt", 5))
    send(second, T0, event("hold", "reserve", 5, reservation_id="h"))
    assert_behind(first)                                     # the first view has not seen the hold

    result = send(first, T0, event("one-more", "reserve", 1, reservation_id="m"))

    assert [r["reason"] for r in result["refused"]] == ["insufficient_stock"]
    if first.settings.is_sqlite:   # the write handed them, and its own, to the view
        assert first.stock.view.as_of_seq == head(first)
    assert_all_agree(first, second)


@pytest.mark.settings(stock_poll_interval_ms=STILL)
def test_holds_opened_released_and_expired_by_the_other_process_count_as_the_table_says(first, second):
    expires = T0 + dt.timedelta(minutes=1)
    send(first, T0, event("in", "receipt", 10), event("r1", "reserve", 4, reservation_id="r1", expires_at=expires))
    # The other process releases r1, holds 3 more until the same minute is up, and 2 for good.
    send(second, T0 + dt.timedelta(seconds=30), event("out", "release", 4, reservation_id="r1"),
         event("r2", "reserve", 3, reservation_id="r2", expires_at=expires),
         event("r3", "reserve", 2, reservation_id="r3"))
    later = T0 + dt.timedelta(minutes=2)
    assert_behind(first)

    # At `later` r1 is released (so not expired as well), r2 has expired, r3 holds: 8 available.
    result = send(first, later, event("all", "reserve", 8, reservation_id="all"),
                  event("one-more", "reserve", 1, reservation_id="one-more"))

    assert [(r["index"], r["reason"]) for r in result["refused"]] == [(1, "insufficient_stock")]
    assert_all_agree(first, second)


@pytest.mark.settings(stock_poll_interval_ms=STILL)
def test_a_view_far_behind_is_caught_up_inside_the_write_first(first, second, monkeypatch):
    monkeypatch.setattr(stock_follower, "MAX_UNAPPLIED", 2)    # "far" is three rows here
    monkeypatch.setattr(stock_follower, "CATCH_UP_BATCH", 1)
    send(first, T0, event("in", "receipt", 5))
    send(second, T0, *[event(f"hold-{i}", "reserve", 1, reservation_id=f"h{i}") for i in range(4)])

    applied: list[int] = []
    apply = first.stock.view.apply
    monkeypatch.setattr(first.stock.view, "apply", lambda rows: (applied.append(len(rows)), apply(rows))[1])

    result = send(first, T0, event("last", "reserve", 1, reservation_id="last"),
                  event("none-left", "reserve", 1, reservation_id="none-left"))

    if first.settings.is_sqlite:   # two of the four holds applied inside the write, the rest after it
        assert applied == [2, 4]

    assert [(r["index"], r["reason"]) for r in result["refused"]] == [(1, "insufficient_stock")]
    assert_all_agree(first, second)
