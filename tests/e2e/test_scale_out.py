"""Several instances on one PostgreSQL: two gunicorn masters with two workers each, on
loopback, every answer naming its worker. A stock event accepted by one instance is in
every worker's offers of the other; a campaign's cap holds over redemptions racing
through both; an edit and a model activation reach every worker; a scheduled start and a
stock-out's pause each happen once, and each webhook is sent once.

PostgreSQL only: SQLite is one file on one host, served by one instance."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import time

import pytest

from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.services import training
from tests.conftest import database_kind
from tests.e2e.test_campaign_server import ok
from tests.e2e.test_server import (
    admin_key,
    answered_by,
    call,
    free_port,
    start_server,
    until_both_workers,
    wait_until_up,
)
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.slow
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


class Instance:
    """One gunicorn master and its two workers."""

    def __init__(self, database_url: str, tmp_path, name: str, **settings: str):
        self.port = free_port()
        folder = tmp_path / name
        folder.mkdir()
        self.process = start_server(database_url, self.port, folder, expose_worker_id="1", log_level="WARNING",
                                    campaign_watch_interval_ms="200", **settings)

    def stop(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=30)[0].decode()


if database_kind() == "postgresql":

    def test_two_instances_on_one_database_agree_and_do_each_thing_once(app, database_url, tmp_path):
        key = admin_key(database_url)
        models = str(tmp_path / "models")
        first = Instance(database_url, tmp_path, "a", model_dir=models, model_check_interval_ms="200")
        second = Instance(database_url, tmp_path, "b", model_dir=models, model_check_interval_ms="200")
        outputs: list[str] = []
        try:
            for instance in (first, second):
                wait_until_up(instance.port, instance.process)
            a, b = first.port, second.port
            ok(a, "PUT", "/v1/products", key, [{"sku": s, "name": s, "price": 2.0, "currency": "USD"}
                                               for s in ("milk", "eggs", "tea")])
            ok(a, "PUT", "/v1/locations", key, [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
            ok(a, "POST", "/v1/interactions", key, {"events": [
                {"event_id": f"buy-{n}", "customer": f"c{n % 8}", "sku": ("milk", "eggs", "tea")[n % 3],
                 "type": "purchase", "channel": "store", "location": "S1",
                 "occurred_at": (NOW - dt.timedelta(days=1 + n % 20)).isoformat()} for n in range(60)]})
            ok(a, "POST", "/v1/stock/events", key, {"events": [
                {"event_id": f"count-{sku}", "sku": sku, "location": "S1", "type": "count", "quantity": 500,
                 "occurred_at": NOW.isoformat()} for sku in ("milk", "eggs", "tea")]})
            campaign = ok(a, "POST", "/v1/campaigns", key, {
                "name": "scale-out", "starts_at": (NOW - dt.timedelta(hours=1)).isoformat(),
                "ends_at": (NOW + dt.timedelta(days=1)).isoformat(), "channels": ["store"],
                "products": {"skus": ["milk", "eggs"]}, "discount": {"type": "amount_off", "value": 0.5},
                "limits": {"max_redemptions": 20}}, status=201)["id"]
            ok(a, "POST", f"/v1/campaigns/{campaign}/activate", key, {})

            def offers_at(port: int):  # type: ignore[no-untyped-def]
                return lambda: answered_by(port, "/v1/customers/c1/offers?channel=store&location=S1", key)

            for port in (a, b):
                until_both_workers(offers_at(port), lambda o: {x["sku"] for x in o["offers"]} == {"milk", "eggs"},
                                   "the activation")

            # A stock event through one instance empties milk in every worker of the other.
            ok(a, "POST", "/v1/stock/events", key, {"events": [{
                "event_id": "empty-milk", "sku": "milk", "location": "S1", "type": "count", "quantity": 0,
                "occurred_at": NOW.isoformat()}]})
            started = time.monotonic()
            until_both_workers(offers_at(b), lambda o: [x["sku"] for x in o["offers"]] == ["eggs"],
                               "milk emptied through the other instance", timeout=5)
            assert time.monotonic() - started < 5

            # An edit through the second instance reaches the first's workers.
            ok(b, "PATCH", f"/v1/campaigns/{campaign}", key, {"name": "scale-out, renamed"})
            until_both_workers(offers_at(a), lambda o: o["offers"] and
                               o["offers"][0]["campaign"]["name"] == "scale-out, renamed", "the edit")

            # The cap holds over 60 redemptions racing through both instances.
            def redeem(n: int) -> int:
                port = (a, b)[n % 2]
                code, raw = call(port, "POST", "/v1/redemptions", {
                    "idempotency_key": f"scale-out-race-{n}", "customer": f"c{n % 8}", "channel": "store", "location": "S1",
                    "campaign": campaign, "lines": [{"sku": "eggs", "quantity": 1}]}, key)
                assert code in (201, 409), raw
                return code

            with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
                codes = list(pool.map(redeem, range(60)))
            assert codes.count(201) == 20 and set(codes) == {201, 409}, codes
            report = ok(b, "GET", f"/v1/campaigns/{campaign}/report", key)
            assert report["totals"]["redemptions"] == 20 and report["limits"]["redemptions_left"] == 0

            # A scheduled campaign starts once, and a stock-out pauses it once, each with its
            # webhook sent once, though four campaign watches and two webhook senders race.
            with Receiver() as receiver:
                ok(a, "POST", "/v1/webhooks", key, {"url": receiver.url,
                                                    "events": ["campaign.activated", "campaign.paused"]},
                   status=201)
                soon = ok(b, "POST", "/v1/campaigns", key, {
                    "name": "starts soon", "starts_at": (dt.datetime.now(dt.timezone.utc)
                                                         + dt.timedelta(seconds=2)).isoformat(),
                    "ends_at": (NOW + dt.timedelta(days=1)).isoformat(), "channels": ["store"],
                    "products": {"skus": ["tea"]}, "discount": {"type": "percent", "value": 5},
                    "stock_policy": {"on_stockout": "pause_campaign", "resume_on_restock": False}},
                    status=201)["id"]
                ok(b, "POST", f"/v1/campaigns/{soon}/schedule", key, {})
                receiver.wait_for(lambda: len(receiver.received) >= 1, timeout=20)
                ok(a, "POST", "/v1/stock/events", key, {"events": [{
                    "event_id": "empty-tea", "sku": "tea", "location": "S1", "type": "count", "quantity": 0,
                    "occurred_at": NOW.isoformat()}]})
                receiver.wait_for(lambda: len(receiver.received) >= 2, timeout=20)
                time.sleep(2)             # every watch has looked again by now
                kinds = sorted(e["type"] for e in receiver.events())
                about = {e["data"]["campaign"]["id"] for e in receiver.events()}
            assert kinds == ["campaign.activated", "campaign.paused"] and about == {soon}
            history = ok(a, "GET", f"/v1/campaigns/{soon}/history", key)["items"]
            assert [e["action"] for e in history if e["action"] in ("activated", "paused")] == ["activated", "paused"]
            assert ok(b, "GET", f"/v1/campaigns/{soon}", key)["paused_by"] == "stock"

            # A model version activated once is served by every worker of both instances.
            runtime = bootstrap(load_settings({"database_url": database_url, "env": "test", "model_dir": models}))
            try:
                (version,) = training.train(runtime, ["recommender"])
            finally:
                runtime.close()

            def recommendations_at(port: int):  # type: ignore[no-untyped-def]
                return lambda: answered_by(port, "/v1/customers/c1/recommendations?channel=store&location=S1", key)

            for port in (a, b):
                until_both_workers(recommendations_at(port),
                                   lambda r: (r["model"] or {}).get("version") == version.version,
                                   f"model version {version.version}")
        finally:
            for instance in (first, second):
                outputs.append(instance.stop())
        for output in outputs:
            assert "Traceback" not in output, output[-3000:]
