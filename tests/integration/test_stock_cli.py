"""`promo stock verify`, as an operator runs it."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from promo.cli import cli
from promo.services import catalog, stock


@pytest.fixture
def promo(cli_runner, database_url, runtime):  # runtime: its teardown empties the tables afterwards
    env = {"PROMO_DATABASE_URL": database_url, "PROMO_ENV": "test", "PROMO_LOG_LEVEL": "WARNING", "PROMO_CONFIG": None}
    return lambda *args: cli_runner.invoke(cli, list(args), env=env)


@pytest.fixture
def some_stock(runtime):
    catalog.upsert_locations(runtime.unit_of_work(write=True),
                             [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
    catalog.upsert_products(runtime.unit_of_work(write=True),
                            [{"sku": s, "name": s, "price": 1.0, "currency": "USD"} for s in ("a", "b")])
    now = dt.datetime.now(dt.timezone.utc)
    stock.ingest_events(runtime.unit_of_work(write=True), runtime.stock, [
        {"event_id": "v1", "sku": "a", "location": "S1", "type": "receipt", "quantity": 5, "occurred_at": now},
        {"event_id": "v2", "sku": "b", "location": "S1", "type": "sale", "quantity": 2, "occurred_at": now},
    ], now)


def test_verify_says_ok_when_log_and_table_agree_and_counts_the_anomaly(promo, some_stock):
    result = promo("stock", "verify")

    assert result.exit_code == 0, result.output
    assert "ok: no differences" in result.output
    assert "1 with negative on-hand, 1 anomalous events" in result.output


def test_snapshot_writes_the_positions_table_up_to_the_log_head(promo, some_stock, runtime):
    result = promo("stock", "snapshot")

    assert result.exit_code == 0, result.output
    assert "positions table holds the log up to seq 2" in result.output
    with runtime.engine.connect() as connection:
        assert connection.execute(text("SELECT positions_seq FROM stock_sequence")).scalar_one() == 2
        rows = connection.execute(text("SELECT on_hand, reserved, safety_stock, inbound, last_seq "
                                       "FROM stock_positions ORDER BY product_id")).all()
    assert [tuple(r) for r in rows] == [(5, 0, 0, 0, 1), (-2, 0, 0, 0, 2)]
    assert "(0 events added)" in promo("stock", "snapshot").output


def test_verify_lists_a_tampered_position_and_exits_non_zero(promo, some_stock, runtime):
    assert promo("stock", "snapshot").exit_code == 0
    with runtime.engine.begin() as connection:
        connection.execute(text("UPDATE stock_positions SET on_hand = on_hand + 7 WHERE on_hand = 5"))

    result = promo("stock", "verify")

    assert result.exit_code == 1
    assert "log replayed vs positions table" in result.output
    assert "expected (on_hand, reserved, safety, inbound) [5, 0, 0, 0], found [12, 0, 0, 0]" in result.output


def test_verify_against_a_live_service_needs_an_admin_key(promo, some_stock):
    result = promo("stock", "verify", "--url", "http://127.0.0.1:9")

    assert result.exit_code != 0
    assert "needs an admin key" in result.output


def test_verify_reports_an_unreachable_service(promo, some_stock):
    result = promo("stock", "verify", "--url", "http://127.0.0.1:9", "--key", "promo_x")

    assert result.exit_code != 0
    assert "cannot reach http://127.0.0.1:9" in result.output
