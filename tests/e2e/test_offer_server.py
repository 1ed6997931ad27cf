"""Offers on a real server (gunicorn, two workers, each answer naming its worker): a
campaign going live, a stock event emptying its product and a pause reach both workers'
offers; a graceful shutdown writes every exposure the workers still held."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, text

from tests.e2e.test_campaign_server import NOW, ok
from tests.e2e.test_server import admin_key, answered_by, free_port, start_server, until_both_workers, wait_until_up

pytestmark = pytest.mark.slow


def offers(port: int, key: str) -> tuple[str, dict]:
    """(the worker that answered, its answer) for ann's offers at S1."""
    return answered_by(port, "/v1/customers/ann/offers?channel=store&location=S1", key)


def test_changes_reach_both_workers_offers_and_a_graceful_shutdown_writes_every_exposure(
        app, database_url, tmp_path):
    key = admin_key(database_url)
    port = free_port()
    # Exposures are never flushed on a timer here: only the shutdown writes them. No
    # request log: this test asks hundreds of times, and the server's output pipe is only
    # read at the end (a full pipe would block the workers).
    server = start_server(database_url, port, tmp_path, expose_worker_id="1", exposure_flush_ms="3600000",
                          exposure_batch_size="100000", log_level="WARNING")
    served: set[str] = set()

    def ask() -> tuple[str, dict]:
        worker, answer = offers(port, key)
        if answer["offers"]:
            served.add(answer["recommendation_id"])
        return worker, answer

    def both_workers(condition, what: str) -> None:  # type: ignore[no-untyped-def]
        until_both_workers(ask, condition, what)

    try:
        wait_until_up(port, server)
        ok(port, "PUT", "/v1/products", key, [{"sku": s, "name": s, "price": 2.0, "currency": "USD"}
                                              for s in ("milk", "eggs")])
        ok(port, "PUT", "/v1/locations", key, [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
        ok(port, "POST", "/v1/interactions", key, {"events": [{
            "event_id": "buy-1", "customer": "ann", "sku": "milk", "type": "purchase", "channel": "store",
            "location": "S1", "occurred_at": (NOW - dt.timedelta(days=1)).isoformat()}]})
        ok(port, "POST", "/v1/stock/events", key, {"events": [
            {"event_id": f"count-{sku}", "sku": sku, "location": "S1", "type": "count", "quantity": 40,
             "occurred_at": NOW.isoformat()} for sku in ("milk", "eggs")]})
        campaign = ok(port, "POST", "/v1/campaigns", key, {
            "name": "e2e offers", "starts_at": (NOW - dt.timedelta(hours=1)).isoformat(),
            "ends_at": (NOW + dt.timedelta(days=1)).isoformat(), "channels": ["store"],
            "products": {"skus": ["milk", "eggs"]}, "discount": {"type": "amount_off", "value": 0.5}},
            status=201)["id"]
        both_workers(lambda a: not a["offers"], "no campaign yet")

        ok(port, "POST", f"/v1/campaigns/{campaign}/activate", key, {})
        both_workers(lambda a: {o["sku"] for o in a["offers"]} == {"milk", "eggs"}, "the activation")

        ok(port, "POST", "/v1/stock/events", key, {"events": [{
            "event_id": "empty-milk", "sku": "milk", "location": "S1", "type": "count", "quantity": 0,
            "occurred_at": NOW.isoformat()}]})
        both_workers(lambda a: [o["sku"] for o in a["offers"]] == ["eggs"], "milk emptied")

        ok(port, "PATCH", f"/v1/campaigns/{campaign}", key, {"name": "e2e offers, renamed"})
        both_workers(lambda a: a["offers"] and a["offers"][0]["campaign"]["name"] == "e2e offers, renamed",
                           "the edit")

        ok(port, "POST", f"/v1/campaigns/{campaign}/pause", key, {})
        both_workers(lambda a: not a["offers"], "the pause")
    finally:
        server.terminate()          # SIGTERM: gunicorn's graceful shutdown
        output = server.communicate(timeout=60)[0].decode()
    assert server.returncode == 0, output[-2000:]

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = {row[0] for row in connection.execute(text(
                "SELECT recommendation_id FROM served_exposures WHERE kind = 'offers'"))}
    finally:
        engine.dispose()
    assert served and stored == served
