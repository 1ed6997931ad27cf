"""Campaign and promoted-stock webhooks: written to the outbox with the change that made
them, sent signed to a real receiver on loopback, each once however many watchers race."""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import select

from promo.adapters.orm import WebhookDelivery
from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.domain import webhooks as rules
from promo.services import campaign_lifecycle, webhooks
from promo.services.promoted_stock import classify, watch_promoted_stock
from tests.integration.test_campaign_watch import FULL, make, set_stock, shop  # noqa: F401  (fixture)
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.settings(webhook_sender_threads=0)
EVERYTHING = list(rules.EVENT_TYPES[:8])


def sent(runtime) -> list[tuple[str, dict]]:
    with runtime.session_factory() as session:
        rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        return [(row.event_type, row.payload) for row in rows]


def subscribe(runtime, url="http://127.0.0.1:9/hook"):
    return webhooks.create_webhook(runtime.unit_of_work(write=True), runtime.settings.secret_key, url=url,
                                   events=[e for e in rules.EVENT_TYPES if e != rules.PING])


def test_campaign_transitions_reach_a_receiver_signed(shop):
    runtime = shop
    with Receiver() as receiver:
        _, secret = subscribe(runtime, receiver.url)
        set_stock(runtime, **{**FULL, "milk_S1": 0})
        code = make(runtime, status="draft")
        with pytest.raises(Exception):
            campaign_lifecycle.transition(runtime, code, "activate", actor="tester")
        set_stock(runtime, milk_S1=40)
        campaign_lifecycle.transition(runtime, code, "activate", actor="tester")
        set_stock(runtime, cheese_S2=0)
        assert runtime.campaign_watch.tick() == [(code, "paused")]

        assert runtime.webhooks.send_due().delivered == 3
        bodies = receiver.events()
        assert [b["type"] for b in bodies] == ["campaign.refused", "campaign.activated", "campaign.paused"]
        assert all(b["data"]["campaign"]["id"] == code for b in bodies)
        assert bodies[2]["data"]["actor"] == "system" and bodies[2]["data"]["stock_seq"] > 0
        assert bodies[2]["data"]["details"]["short"] == [{"sku": "cheese", "location": "S2"}]
        request = receiver.received[0]
        assert rules.verify_signature(secret, request["headers"]["Promo-Signature"], request["body"], now=time.time())


def test_a_refused_activation_rolls_nothing_back_but_its_audit_and_event(shop):
    runtime = shop
    subscribe(runtime)
    code = make(runtime, status="draft")   # no stock at all
    with pytest.raises(Exception):
        campaign_lifecycle.transition(runtime, code, "activate", actor="tester")
    assert [kind for kind, _ in sent(runtime)] == ["campaign.refused"]


@pytest.mark.parametrize("before, after, kind", [
    (10, 0, "stock.out"), (0, 3, "stock.back"), (10, 4, "stock.low"), (4, 3, None), (10, 8, None), (0, 0, None),
    (3, -2, "stock.out"), (-2, 5, "stock.back"),
])
def test_what_a_move_of_available_units_means(before, after, kind):
    assert classify(before, after, low=5) == kind


def test_promoted_products_send_out_low_and_back_once_from_the_stock_log(shop):
    runtime = shop
    subscribe(runtime)
    set_stock(runtime, **FULL)
    code = make(runtime)
    assert watch_promoted_stock(runtime) == []        # the first watch starts at the present
    set_stock(runtime, milk_S1=0)
    set_stock(runtime, cheese_S2=3)
    changes = watch_promoted_stock(runtime)
    assert sorted(c.kind for c in changes) == ["stock.low", "stock.out"]
    set_stock(runtime, milk_S1=12)
    assert [c.kind for c in watch_promoted_stock(runtime)] == ["stock.back"]
    assert watch_promoted_stock(runtime) == []

    stock_events = [(kind, payload) for kind, payload in sent(runtime) if kind.startswith("stock.")]
    found = [(k, p["sku"], p["location"], p["previous_available"], p["available"]) for k, p in stock_events]
    assert sorted(found[:2]) == [("stock.low", "cheese", "S2", 40, 3), ("stock.out", "milk", "S1", 40, 0)]
    assert found[2:] == [("stock.back", "milk", "S1", 0, 12)]
    assert all(p["campaigns"] == [code] for _, p in stock_events)


def test_racing_watchers_in_two_runtimes_send_each_stock_event_once(shop, settings_overrides):
    runtime = shop
    subscribe(runtime)
    other = bootstrap(load_settings({**settings_overrides, "webhook_sender_threads": 0}), follow_stock=True)
    try:
        set_stock(runtime, **FULL)
        make(runtime, stock_policy={"on_stockout": "exclude_product"})
        watch_promoted_stock(runtime)
        seq = set_stock(runtime, milk_S2=0)
        while other.stock.view.as_of_seq < seq:
            time.sleep(0.01)
        barrier = threading.Barrier(6)
        found: list = []

        def race(rt) -> None:
            barrier.wait()
            found.extend(watch_promoted_stock(rt))

        threads = [threading.Thread(target=race, args=(runtime if i % 2 else other,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [c.kind for c in found] == ["stock.out"]
        assert [kind for kind, _ in sent(runtime) if kind.startswith("stock.")] == ["stock.out"]
    finally:
        other.close()


def test_nothing_is_sent_for_products_no_running_campaign_promotes(shop):
    runtime = shop
    subscribe(runtime)
    set_stock(runtime, **FULL)
    make(runtime, status="draft")
    watch_promoted_stock(runtime)
    set_stock(runtime, milk_S1=0)
    assert watch_promoted_stock(runtime) == [] and sent(runtime) == []
