"""The web app's stock watch: promoted products low or out of stock, by location, from
the live view; the page and the feed its script polls."""
from __future__ import annotations

from promo.services import campaign_lifecycle, staff
from tests.integration.test_campaign_watch import FULL, make, set_stock, shop  # noqa: F401  (a fixture)
from tests.web.test_sign_in import PASSWORD, sign_in


def test_promoted_products_low_or_out_show_by_location_and_leave_when_restocked(client, runtime, shop):
    staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna",
                      role="marketing", password=PASSWORD)
    set_stock(runtime, **FULL)
    code = make(runtime, name="Dairy week", stock_policy={"on_stockout": "exclude_product"})
    sign_in(client)
    assert client.get("/app/stock-watch.json").json["rows"] == []

    set_stock(runtime, milk_S1=0, cheese_S2=3)

    feed = client.get("/app/stock-watch.json").json
    assert [(r["sku"], r["location"], r["available"], r["state"]) for r in feed["rows"]] == [
        ("milk", "S1", 0, "out"), ("cheese", "S2", 3, "low")]
    assert feed["rows"][0]["campaigns"] == [{"id": code, "name": "Dairy week"}]
    page = client.get("/app/stock-watch").get_data(as_text=True)
    assert "milk" in page and "Dairy week" in page and "stock-watch.js" in page

    set_stock(runtime, milk_S1=40, cheese_S2=40)
    assert client.get("/app/stock-watch.json").json["rows"] == []
    campaign_lifecycle.transition(runtime, code, "end", actor="tester")
    set_stock(runtime, milk_S1=0)
    assert client.get("/app/stock-watch.json").json["rows"] == []     # an ended campaign is not watched


def test_the_feed_needs_a_signed_in_person(client):
    assert client.get("/app/stock-watch.json").status_code == 302
    script = client.get("/app/static/stock-watch.js")
    try:
        assert script.status_code == 200 and b"setInterval" in script.get_data()
    finally:
        script.close()
