"""A database outage on a real server (gunicorn, two workers, PostgreSQL): while the
database is stopped, reads served from memory keep answering with the stock sequence they
reflect, writes fail fast with 503 and a reason, /readyz says why; when the database is
back, everything recovers by itself.

It stops the suite's own PostgreSQL cluster (.ci/with-postgres gives the command to, as
PROMO_PG_CTL), so it exists only in the PostgreSQL run; SQLite is a file in the process
and has no outage of this kind.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import database_kind
from tests.e2e.test_server import (
    admin_key,
    answered_by,
    call,
    free_port,
    start_server,
    until_both_workers,
    wait_until_up,
    worker_pids,
)

pytestmark = pytest.mark.slow
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
PG_CTL = os.environ.get("PROMO_PG_CTL")


def pg_ctl(action: str, *args: str) -> None:
    subprocess.run([PG_CTL, action, *args], check=True, capture_output=True, timeout=120)  # type: ignore[list-item]


def timed(port: int, method: str, path: str, key: str, body: object = None) -> tuple[int, dict, float]:
    started = time.monotonic()
    status, raw = call(port, method, path, body, key)
    return status, json.loads(raw), time.monotonic() - started


if database_kind() == "postgresql" and PG_CTL:

    def test_while_the_database_is_down_reads_answer_from_memory_writes_fail_fast_and_all_recovers(
            app, database_url, tmp_path):
        key = admin_key(database_url)
        port = free_port()
        server = start_server(database_url, port, tmp_path, log_level="WARNING", expose_worker_id="1")
        stopped = False
        try:
            wait_until_up(port, server)
            for method, path, body in [
                ("PUT", "/v1/products", [{"sku": "milk", "name": "Milk", "price": 2.0, "currency": "USD"}]),
                ("PUT", "/v1/locations", [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}]),
                ("POST", "/v1/interactions", {"events": [{"event_id": "buy", "customer": "ann", "sku": "milk",
                                                          "type": "purchase", "channel": "store", "location": "S1",
                                                          "occurred_at": NOW.isoformat()}]}),
                ("POST", "/v1/stock/events", {"events": [{"event_id": "before", "sku": "milk", "location": "S1",
                                                          "type": "count", "quantity": 40,
                                                          "occurred_at": NOW.isoformat()}]}),
            ]:
                assert call(port, method, path, body, key)[0] == 200
            stock_path = "/v1/products/milk/stock"
            until_both_workers(lambda: answered_by(port, stock_path, key), lambda a: a["as_of_seq"] == 1,
                               "the stock event")
            offers_path = "/v1/customers/ann/offers?channel=store&location=S1"
            until_both_workers(lambda: answered_by(port, offers_path, key), lambda a: a["known_customer"],
                               "ann, a known customer")        # both serving states have read her

            pg_ctl("stop", "-m", "fast")
            stopped = True
            # Past api_key_refresh_ms (1 s): the key rings' next reads of the keys fail, and
            # requests go on authenticating with the keys held.
            time.sleep(1.5)

            for _ in range(6):           # both workers, from their views
                status, answer, took = timed(port, "GET", stock_path, key)
                assert status == 200 and answer["as_of_seq"] == 1, answer
                assert answer["locations"][0]["on_hand"] == 40
            status, answer, _ = timed(port, "GET", "/v1/availability?sku=milk&channel=store&location=S1&quantity=2",
                                      key)
            assert status == 200 and (answer["as_of_seq"], answer["quantity_now"]) == (1, 40)
            status, answer, _ = timed(port, "GET", "/v1/deals?channel=store&location=S1", key)
            assert status == 200 and answer["stock_as_of_seq"] == 1
            status, answer, _ = timed(port, "GET", offers_path, key)
            assert status == 200 and answer["known_customer"] and answer["stock_as_of_seq"] == 1
            # Recommendations read the customer's history from the database
            status, answer, took = timed(port, "GET", "/v1/customers/ann/recommendations?channel=store&location=S1",
                                         key)
            assert status == 503 and answer["reason"] == "database_unavailable" and took < 5
            status, answer, took = timed(port, "POST", "/v1/stock/events", key, {"events": [{
                "event_id": "during", "sku": "milk", "location": "S1", "type": "sale", "quantity": 1,
                "occurred_at": NOW.isoformat()}]})
            assert status == 503 and answer["reason"] == "database_unavailable", answer
            assert "database" in answer["message"] and took < 5
            status, raw = call(port, "GET", "/readyz")
            assert status == 503 and b"database unreachable" in raw
            # A worker that dies now is replaced by one that cannot reach the database as it
            # starts: it must start all the same (not ready), not bring the server down.
            before = worker_pids(server.pid)
            os.kill(sorted(before)[0], signal.SIGKILL)
            deadline = time.monotonic() + 20
            while not (len(worker_pids(server.pid)) == 2 and worker_pids(server.pid) != before):
                assert server.poll() is None, "the server stopped"
                assert time.monotonic() < deadline, "no new worker"
                time.sleep(0.1)
            time.sleep(3)                                      # the new worker has booted
            assert server.poll() is None and call(port, "GET", "/healthz")[0] == 200

            pg_ctl("start")
            stopped = False

            deadline = time.monotonic() + 30
            while call(port, "GET", "/readyz")[0] != 200:
                assert time.monotonic() < deadline, "not ready again 30 s after the database came back"
                time.sleep(0.2)
            status, answer, _ = timed(port, "POST", "/v1/stock/events", key, {"events": [{
                "event_id": "after", "sku": "milk", "location": "S1", "type": "sale", "quantity": 1,
                "occurred_at": NOW.isoformat()}]})
            assert status == 200 and answer["accepted"] == 1, answer
            seq = answer["last_seq"]
            # every worker's view follows again, the one started during the outage included
            until_both_workers(lambda: answered_by(port, f"{stock_path}?min_seq={seq}", key),
                               lambda a: a["locations"][0]["on_hand"] == 39, "the stock event after the outage",
                               timeout=30)
        finally:
            if stopped:
                pg_ctl("start")
            server.terminate()
            output = server.communicate(timeout=30)[0].decode()
        assert "Traceback" not in output, output[-3000:]
