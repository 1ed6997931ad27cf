"""Two serving processes' worth of state on one database (two apps, each with its own
stock view and serving snapshot kept current by its own threads): what one changes
reaches the other's offers within the refresh bound, and closing a runtime writes the
exposures it held. (The same over gunicorn: tests/e2e/test_offer_server.py.)"""
from __future__ import annotations

import threading
import time

import pytest

from promo import create_app
from promo.api.context import EXTENSION
from tests.api.test_offers import live, offers, redeem, shop, skus  # noqa: F401 - the shop fixture
from tests.api.test_campaigns import stock

REFRESH_MS = 50
# The refresh period plus the stock view's poll, with slack for a busy 2-core machine
# (bench/offers.py measures the real propagation time).
BOUND_SECONDS = 3.0


@pytest.fixture
def other(settings_overrides):
    """A second 'worker': its own app on the same database, refreshing on its own."""
    app = create_app({**settings_overrides, "serving_refresh_ms": REFRESH_MS, "exposure_flush_ms": 3_600_000})
    try:
        yield app
    finally:
        app.extensions[EXTENSION].close()


def eventually(read, wanted, what: str) -> float:
    started = time.monotonic()
    while (found := read()) != wanted:
        assert time.monotonic() - started < BOUND_SECONDS, f"{what}: still {found!r}"
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.mark.settings(serving_refresh_ms=REFRESH_MS)
def test_stock_activations_edits_pauses_and_redemptions_reach_every_worker(
        client, admin, marketing, channel, runtime, shop, other):
    second = other.test_client()
    workers = {"first": client, "second": second}

    def both(**query):
        return {name: sorted(skus(offers(worker, channel, **query))) for name, worker in workers.items()}

    campaign = live(client, marketing, runtime, products={"skus": ["milk", "cheese"]}, limits={"per_customer": 1})
    eventually(lambda: both(), {"first": ["cheese", "milk"], "second": ["cheese", "milk"]}, "the activation")

    stock(client, admin, runtime, ("milk", "S1", 0))
    eventually(lambda: both(), {"first": ["cheese"], "second": ["cheese"]}, "the stock-out")

    assert client.patch(f"/v1/campaigns/{campaign['id']}", json={"name": "Renamed"},
                        headers=marketing).status_code == 200
    eventually(lambda: {offers(w, channel)["offers"][0]["campaign"]["name"] for w in workers.values()},
               {"Renamed"}, "the edit")

    redeem(runtime, campaign["id"], "ann")
    eventually(lambda: both(), {"first": [], "second": []}, "ann's redemption (per-customer limit 1)")
    eventually(lambda: both(customer="bob"), {"first": ["cheese"], "second": ["cheese"]}, "bob unaffected")

    assert client.post(f"/v1/campaigns/{campaign['id']}/pause", json={}, headers=marketing).status_code == 200
    eventually(lambda: both(customer="bob"), {"first": [], "second": []}, "the pause")


def test_closing_a_runtime_writes_the_exposures_it_still_held(client, marketing, channel, runtime, row_count, shop,
                                                               other):
    live(client, marketing, runtime, products={"skus": ["milk"]})
    other.extensions[EXTENSION].serving.refresh()
    second = other.test_client()
    answers = {offers(second, channel)["recommendation_id"] for _ in range(5)}
    assert other.extensions[EXTENSION].exposures.pending == 5

    other.extensions[EXTENSION].close()

    assert row_count("served_exposures") == 5 and len(answers) == 5


@pytest.mark.settings(serving_refresh_ms=20, exposure_flush_ms=10, exposure_batch_size=7)
def test_many_threads_serving_while_campaigns_change_lose_no_exposure_and_never_fail(
        app, client, admin, marketing, channel, runtime, row_count, shop):
    import concurrent.futures

    campaigns = [live(client, marketing, runtime, products={"skus": [sku]}) for sku in ("milk", "cheese", "steak")]
    # A fixed amount of churn, served throughout (not a fixed time: a loaded machine
    # would do less of it).
    churned = threading.Event()

    def serve(n: int) -> list[int]:
        worker = app.test_client()
        rows = []
        while not churned.is_set() or len(rows) < 10:
            response = worker.get("/v1/customers/ann/offers", query_string={"channel": "store", "location": "S1"},
                                  headers=channel)
            assert response.status_code == 200, response.json
            rows.append(len({offer["campaign"]["id"] for offer in response.json["offers"]}))
        return rows

    def churn() -> int:
        changes = 0
        worker = app.test_client()
        try:
            for _ in range(4):
                for campaign in campaigns:
                    for action in ("pause", "resume"):
                        assert worker.post(f"/v1/campaigns/{campaign['id']}/{action}", json={"override": {
                            "reason": "test"}} if action == "resume" else {}, headers=marketing).status_code == 200
                        changes += 1
                        time.sleep(0.05)        # let the servers see each state
        finally:
            churned.set()
        return changes

    with concurrent.futures.ThreadPoolExecutor(max_workers=7) as pool:
        servers = [pool.submit(serve, n) for n in range(6)]
        changes = pool.submit(churn)
        served = [rows for future in servers for rows in future.result()]
        assert changes.result() == 24

    runtime.exposures.close()
    assert len(served) > 50 and row_count("served_exposures") == sum(served)
    assert 3 in served and min(served) < 3      # everything live was seen, and so were the pauses
