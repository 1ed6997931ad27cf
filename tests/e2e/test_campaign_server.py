"""Campaigns on a real server (gunicorn, two workers, each running the campaign watch):
activation refused and overridden over HTTP, then a stock event posted over HTTP pauses
the campaign and a restock resumes it, each exactly once."""
from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from tests.e2e.test_server import admin_key, call, free_port, start_server, wait_until_up

pytestmark = pytest.mark.slow
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def ok(port: int, method: str, path: str, key: str, body: object = None, status: int = 200) -> dict:
    code, raw = call(port, method, path, body, key)
    assert code == status, (code, raw[:500])
    return json.loads(raw)


def test_a_stock_event_over_http_pauses_a_running_campaign_once_and_a_restock_resumes_it(
        app, database_url, tmp_path):
    key = admin_key(database_url)
    port = free_port()
    server = start_server(database_url, port, tmp_path, campaign_watch_interval_ms="100")
    try:
        wait_until_up(port, server)
        ok(port, "PUT", "/v1/products", key, [{"sku": s, "name": s, "price": 2.0, "currency": "USD"}
                                              for s in ("milk", "eggs")])
        ok(port, "PUT", "/v1/locations", key, [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])

        def count(sku: str, quantity: int, n: int) -> int:
            return ok(port, "POST", "/v1/stock/events", key, {"events": [{
                "event_id": f"e2e-{n}", "sku": sku, "location": "S1", "type": "count", "quantity": quantity,
                "occurred_at": NOW.isoformat()}]})["last_seq"]

        count("milk", 0, 1)
        count("eggs", 50, 2)
        campaign = ok(port, "POST", "/v1/campaigns", key, {
            "name": "e2e", "starts_at": (NOW - dt.timedelta(hours=1)).isoformat(),
            "ends_at": (NOW + dt.timedelta(days=1)).isoformat(), "channels": ["store"],
            "products": {"skus": ["milk", "eggs"]}, "discount": {"type": "amount_off", "value": 0.5},
            "stock_policy": {"on_stockout": "pause_campaign"}}, status=201)["id"]
        refused = ok(port, "POST", f"/v1/campaigns/{campaign}/activate", key, {}, status=409)
        assert refused["reason"] == "stock_insufficient"
        count("milk", 30, 3)
        assert ok(port, "POST", f"/v1/campaigns/{campaign}/activate", key, {})["status"] == "active"

        def wait_for(status: str) -> dict:
            deadline = time.monotonic() + 15
            while True:
                found = ok(port, "GET", f"/v1/campaigns/{campaign}", key)
                if found["status"] == status:
                    return found
                assert time.monotonic() < deadline, found["status"]
                time.sleep(0.1)

        empty = count("eggs", 0, 4)
        assert wait_for("paused")["paused_by"] == "stock"
        count("eggs", 40, 5)
        wait_for("active")
        time.sleep(0.5)  # both workers' watches look again

        timeline = ok(port, "GET", f"/v1/campaigns/{campaign}/history", key)["items"]
        history = [e for e in timeline if not e["action"].startswith("stock.")]
        assert [e["action"] for e in history] == ["created", "activation_refused", "activated", "paused", "resumed"]
        assert [e["action"] for e in timeline if e["action"].startswith("stock.")].count("stock.out") == 1
        assert history[3]["actor"] == "system" and history[3]["stock_seq"] >= empty
        assert history[3]["details"]["short"] == [{"sku": "eggs", "location": "S1"}]
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "campaign watch tick failed" not in output
