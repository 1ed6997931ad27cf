"""Crashes under load on a real server (gunicorn, two workers): while clients send stock
batches, interaction batches and redemptions, one worker is killed with SIGKILL, then the
whole instance (master and workers). After a restart on the same database, and the
clients' retries of whatever was not acknowledged (each carries its own ids, so a retry
is safe):
- every acknowledged write is there, exactly once;
- no batch is there in part;
- the campaign's cap holds, and its counter equals its redemptions;
- the restarted workers' stock views equal the database (`promo stock verify`).
On SQLite and on PostgreSQL."""
from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import subprocess
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.test_server import (
    admin_key,
    assert_views_equal_the_database,
    call,
    free_port,
    start_server,
    wait_until_up,
    worker_pids,
)

pytestmark = pytest.mark.slow
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
BATCH = 40
CAP = 25


class Client(threading.Thread):
    """Sends numbered requests until stopped; remembers which were acknowledged."""

    def __init__(self, name: str, send):  # type: ignore[no-untyped-def]
        super().__init__(name=name, daemon=True)
        self.send = send
        self.acknowledged: dict[int, int] = {}     # request number -> HTTP status
        self.sent = 0
        self.port = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            number = self.sent
            self.sent += 1
            try:
                status = self.send(self.port, number)
            except (OSError, http.client.HTTPException):  # killed before answering: retried at the end
                time.sleep(0.05)
                continue
            if status < 500:
                self.acknowledged[number] = status

    def retry_unacknowledged(self) -> None:
        for number in range(self.sent):
            if number not in self.acknowledged:
                self.acknowledged[number] = self.send(self.port, number)


def stored(database_url: str, campaign: str) -> dict:
    """{stock: {batch: events}, interactions: {batch: events}, redeemed, counter} as stored."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            def batches(table: str, letter: str) -> dict[int, int]:
                counts: dict[int, int] = {}
                for event_id in connection.execute(text(f"SELECT event_id FROM {table} WHERE event_id LIKE :p"),
                                                   {"p": f"{letter}%-%"}).scalars():
                    number = int(event_id[1:].split("-")[0])
                    counts[number] = counts.get(number, 0) + 1
                return counts

            return {"stock": batches("stock_events", "s"), "interactions": batches("interactions", "i"),
                    "redeemed": connection.execute(text(
                        "SELECT COUNT(*) FROM redemptions r JOIN campaigns c ON c.id = r.campaign_id "
                        "WHERE c.code = :code AND r.cancelled_at IS NULL"), {"code": campaign}).scalar_one(),
                    "counter": connection.execute(text("SELECT redeemed_count FROM campaigns WHERE code = :code"),
                                                  {"code": campaign}).scalar_one()}
    finally:
        engine.dispose()


def kill_instance(server: subprocess.Popen[bytes]) -> None:
    workers = worker_pids(server.pid)
    os.kill(server.pid, signal.SIGKILL)
    for pid in workers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.wait(timeout=30)


def test_killed_workers_and_instances_lose_no_acknowledged_write_and_leave_no_half_batch(
        app, database_url, tmp_path):
    key = admin_key(database_url)
    port = free_port()
    server = start_server(database_url, port, tmp_path / "first", log_level="WARNING")
    outputs = []
    try:
        wait_until_up(port, server)
        assert call(port, "PUT", "/v1/products", [{"sku": s, "name": s, "price": 2.0, "currency": "USD"}
                                                  for s in ("milk", "eggs")], key)[0] == 200
        assert call(port, "PUT", "/v1/locations", [{"code": "S1", "name": "S1", "kind": "store",
                                                    "channels": ["store"]}], key)[0] == 200
        assert call(port, "POST", "/v1/stock/events", {"events": [{
            "event_id": "start", "sku": "eggs", "location": "S1", "type": "count", "quantity": 100000,
            "occurred_at": NOW.isoformat()}]}, key)[0] == 200
        code, raw = call(port, "POST", "/v1/campaigns", {
            "name": "crash", "starts_at": (NOW - dt.timedelta(hours=1)).isoformat(),
            "ends_at": (NOW + dt.timedelta(days=1)).isoformat(), "channels": ["store"],
            "products": {"skus": ["eggs"]}, "discount": {"type": "amount_off", "value": 0.5},
            "limits": {"max_redemptions": CAP}}, key)
        campaign = json.loads(raw)["id"]
        assert call(port, "POST", f"/v1/campaigns/{campaign}/activate", {}, key)[0] == 200

        def stock_batch(at: int, n: int) -> int:
            return call(at, "POST", "/v1/stock/events", {"events": [
                {"event_id": f"s{n}-{i}", "sku": "milk", "location": "S1", "type": "receipt", "quantity": 1,
                 "occurred_at": NOW.isoformat()} for i in range(BATCH)]}, key)[0]

        def interaction_batch(at: int, n: int) -> int:
            return call(at, "POST", "/v1/interactions", {"events": [
                {"event_id": f"i{n}-{i}", "customer": f"c{i % 9}", "sku": "milk", "type": "purchase",
                 "channel": "store", "location": "S1", "occurred_at": NOW.isoformat()} for i in range(BATCH)]},
                key)[0]

        def redemption(at: int, n: int) -> int:
            return call(at, "POST", "/v1/redemptions", {
                "idempotency_key": f"crash-redemption-{n}", "customer": f"c{n % 9}", "channel": "store",
                "location": "S1", "campaign": campaign, "lines": [{"sku": "eggs", "quantity": 1}]}, key)[0]

        clients = [Client("stock", stock_batch), Client("interactions", interaction_batch),
                   Client("redemptions", redemption)]
        for client in clients:
            client.port = port
            client.start()
        time.sleep(1.5)
        os.kill(sorted(worker_pids(server.pid))[0], signal.SIGKILL)       # one worker
        time.sleep(1.5)
        kill_instance(server)                                              # the whole instance
        outputs.append(server.stdout.read().decode())                      # type: ignore[union-attr]
        server.stdout.close()                                              # type: ignore[union-attr]
        time.sleep(0.5)

        server = start_server(database_url, port, tmp_path / "second", log_level="WARNING")
        wait_until_up(port, server)
        time.sleep(1.0)
        for client in clients:
            client.stop.set()
            client.join(timeout=30)
        stock_client, interaction_client, redemption_client = clients
        assert stock_client.sent > 3 and interaction_client.sent > 3 and redemption_client.sent > CAP

        # Before any retry: each acknowledged batch whole, and no batch in part.
        found = stored(database_url, campaign)
        for client, counts in ((stock_client, found["stock"]), (interaction_client, found["interactions"])):
            assert set(counts.values()) <= {BATCH}, counts                   # nothing in part
            assert all(counts.get(n) == BATCH for n, status in client.acknowledged.items() if status == 200)
        assert found["redeemed"] == found["counter"] <= CAP
        acknowledged = {n for n, status in redemption_client.acknowledged.items() if status == 201}
        assert len(acknowledged) <= found["redeemed"]

        for client in clients:
            client.retry_unacknowledged()

        # After: every batch once, the cap reached and never passed.
        found = stored(database_url, campaign)
        assert all(status == 200 for status in stock_client.acknowledged.values())
        assert found["stock"] == {n: BATCH for n in range(stock_client.sent)}
        assert all(status == 200 for status in interaction_client.acknowledged.values())
        assert found["interactions"] == {n: BATCH for n in range(interaction_client.sent)}
        statuses = list(redemption_client.acknowledged.values())
        assert set(statuses) <= {201, 409} and statuses.count(201) == CAP
        assert found["redeemed"] == found["counter"] == CAP

        assert_views_equal_the_database(port, key, database_url)
    finally:
        if server.poll() is None:
            server.terminate()
            outputs.append(server.communicate(timeout=30)[0].decode())
    for output in outputs:
        assert "Traceback" not in output, output[-3000:]
