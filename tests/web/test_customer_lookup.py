"""The web app's customer lookup: a customer's profile, segments, recommendations and
offers as the shop sees them, without recording an exposure."""
from __future__ import annotations

from promo.services import staff
from tests.api.test_offers import exposures, live, shop  # noqa: F401  (a fixture)
from tests.web.test_sign_in import PASSWORD, sign_in


def test_a_customer_is_shown_with_their_offers_and_recommendations_and_nothing_is_recorded(
        client, marketing, runtime, shop):
    staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna",
                      role="marketing", password=PASSWORD)
    live(client, marketing, runtime, name="Dairy days")
    sign_in(client)

    page = client.get("/app/customers", query_string={"customer": "ann", "channel": "store"})

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Dairy days" in text and "Milk" in text              # her offer, at her home store S1
    assert "Offers at S1" in text and "Recommendations" in text
    summary = " ".join(text[text.index("Home store"):text.index("</p>", text.index("Home store"))].split())
    assert summary == "Home store S1 · 2 visits · spend 10.00 · last purchase less than a day ago · 0 redemptions"
    assert exposures(runtime) == []                             # staff looking is not a shopper served


def test_an_unknown_customer_or_location_is_said_plainly(client, runtime, shop):
    staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna",
                      role="marketing", password=PASSWORD)
    sign_in(client)

    unknown = client.get("/app/customers", query_string={"customer": "nobody"})
    assert unknown.status_code == 200 and "no customer with id" in unknown.get_data(as_text=True)
    off = client.get("/app/customers", query_string={"customer": "ann", "channel": "web", "location": "S1"})
    assert off.status_code == 200 and "does not serve channel" in off.get_data(as_text=True)
    assert client.get("/app/customers").status_code == 200           # the form alone
