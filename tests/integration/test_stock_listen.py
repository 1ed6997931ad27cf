"""What the stock follower's background work does when the database misbehaves: a lost
PostgreSQL LISTEN connection is opened again (and the metrics say which state the process
is in), and a failing SQLite WAL checkpoint is counted and warned about, not hidden."""
from __future__ import annotations

import datetime as dt
import logging
import time

from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text

from promo.adapters import stock_follower
from promo.adapters.database import WalCheckpointer
from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.services import catalog
from promo.services.stock import ingest_events
from tests.conftest import database_kind

SLOW_POLL_MS = 60_000     # the followers below see a write only through a notification


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_a_failing_wal_checkpoint_is_counted_and_warned_about(tmp_path, caplog):
    missing = create_engine(f"sqlite:///{tmp_path}/no/such/dir/promo.db")
    before = metric("promo_wal_checkpoint_failures_total")
    checkpointer = WalCheckpointer(missing, interval=0.02)
    with caplog.at_level(logging.WARNING, logger="promo.database"):
        checkpointer.start()
        deadline = time.monotonic() + 5
        while metric("promo_wal_checkpoint_failures_total") < before + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        checkpointer.stop()
    assert metric("promo_wal_checkpoint_failures_total") >= before + 3
    warnings = [r for r in caplog.records if "WAL checkpoint failed" in r.getMessage()]
    assert len(warnings) == 1                   # warned once, counted every time
    missing.dispose()


if database_kind() == "postgresql":
    # Only PostgreSQL has LISTEN; on SQLite there is nothing to lose or reopen.

    def test_a_lost_listen_connection_is_opened_again_and_notifications_wake_the_view(
            runtime, database_url, monkeypatch):
        monkeypatch.setattr(stock_follower, "LISTEN_RETRY_SECONDS", 0.2)
        catalog.upsert_products(runtime.unit_of_work(write=True),
                                [{"sku": "p1", "name": "P1", "price": 1.0, "currency": "USD"}])
        catalog.upsert_locations(runtime.unit_of_work(write=True),
                                 [{"code": "L1", "name": "L1", "kind": "store", "channels": ["store"]}])
        follower = bootstrap(load_settings({"database_url": database_url, "env": "test", "log_level": "WARNING",
                                            "stock_poll_interval_ms": SLOW_POLL_MS}), follow_stock=True)
        database = runtime.engine.url.database
        # A database cannot refuse connections while the one changing it is to itself.
        admin = create_engine(runtime.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                # The database refuses new connections (as while it restarts), then every
                # LISTEN connection of it is cut: the follower cannot listen again yet.
                connection.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
                killed = connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN %' AND datname = :database"), {"database": database}).scalar_one()
                assert killed >= 1
                deadline = time.monotonic() + 5
                while metric("promo_stock_listen_connected") != 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert metric("promo_stock_listen_connected") == 0
                connects = metric("promo_stock_listen_connects_total")
                time.sleep(0.6)                         # a few failed attempts
                assert metric("promo_stock_listen_connects_total") == connects
                connection.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))

            deadline = time.monotonic() + 10
            while metric("promo_stock_listen_connects_total") <= connects and time.monotonic() < deadline:
                time.sleep(0.05)
            assert metric("promo_stock_listen_connects_total") > connects       # back by itself
            assert metric("promo_stock_listen_connected") == 1

            written = ingest_events(runtime.unit_of_work(write=True), runtime.stock, [{
                "event_id": "after-reconnect", "sku": "p1", "location": "L1", "type": "count", "quantity": 7,
                "occurred_at": dt.datetime.now(dt.timezone.utc), "reason": None, "reservation_id": None,
                "expires_at": None, "eta": None}])
            # Its poll is a minute away: only the reopened LISTEN can bring the event this soon.
            assert follower.stock.follower.wait_for(written["last_seq"], 5)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))
            admin.dispose()
            follower.close()
