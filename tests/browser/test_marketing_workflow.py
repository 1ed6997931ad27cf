"""The marketing workflow in a real browser against a real server: sign in, build a
campaign from the product picker, watch the audience and stock panel, get refused by the
stock check, override with a reason, then empty a product through the API and watch the
campaign pause in the open page. Also: sign-in, roles and CSRF enforced in the browser,
every page readable on a tablet, and the screenshots the README shows."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re

import pytest

from promo.domain.campaigns import is_held_out
from promo.services import staff
from tests.e2e.test_server import call

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
PRODUCTS = [
    {"sku": "milk", "name": "Whole milk 1l", "price": 1.2, "currency": "USD", "category": "DAIRY", "brand": "Cowco"},
    {"sku": "eggs", "name": "Free-range eggs x6", "price": 2.5, "currency": "USD", "category": "EGGS",
     "brand": "Hens"},
    {"sku": "yogurt", "name": "Greek yogurt", "price": 1.8, "currency": "USD", "category": "DAIRY",
     "brand": "Cowco"},
    {"sku": "bread", "name": "Sourdough loaf", "price": 3.1, "currency": "USD", "category": "BAKERY",
     "brand": "Crumb"},
]
_events = itertools.count()


def api(server: dict, method: str, path: str, body: object = None) -> dict:
    status, raw = call(int(server["port"]), method, path, body, str(server["key"]))
    assert status < 300, (status, raw[:500])
    return json.loads(raw)


def set_stock(server: dict, *counts: tuple[str, str, int]) -> None:
    api(server, "POST", "/v1/stock/events", {"events": [
        {"event_id": f"count-{next(_events)}", "sku": sku, "location": location, "type": "count",
         "quantity": quantity, "occurred_at": dt.datetime.now(dt.timezone.utc).isoformat()}
        for sku, location, quantity in counts]})


@pytest.fixture
def shop(server, runtime) -> dict:
    """Four products, two stores, twelve customers who shop at S1, stock at S1 with no
    eggs; Anna (marketing) and Root (admin) have accounts."""
    api(server, "PUT", "/v1/products", PRODUCTS)
    api(server, "PUT", "/v1/locations", [
        {"code": "S1", "name": "High Street", "kind": "store", "channels": ["store", "mobile"]},
        {"code": "S2", "name": "Station Road", "kind": "store", "channels": ["store", "mobile"]}])
    api(server, "POST", "/v1/interactions", {"events": [
        {"event_id": f"buy-{n}", "customer": f"c{n % 12:02d}", "sku": PRODUCTS[n % 4]["sku"], "type": "purchase",
         "quantity": 1, "value": 3.0, "channel": "store", "location": "S1",
         "occurred_at": (NOW - dt.timedelta(days=1 + n % 5)).isoformat()} for n in range(24)]})
    set_stock(server, ("milk", "S1", 40), ("eggs", "S1", 0), ("yogurt", "S1", 25), ("bread", "S1", 3),
              ("milk", "S2", 12))
    for email, name, role in (("anna@shop.example", "Anna", "marketing"), ("root@shop.example", "Root", "admin")):
        staff.create_user(runtime.unit_of_work(write=True), email=email, name=name, role=role, password=PASSWORD)
    return server


def redeem_at_s1(server: dict, campaign: str, customers: list[str]) -> int:
    """Redemptions through the API by the customers the holdout does not keep out; how many."""
    done = 0
    for customer in customers:
        status, raw = call(int(server["port"]), "POST", "/v1/redemptions", {
            "idempotency_key": f"till-{customer}", "customer": customer, "channel": "store", "location": "S1",
            "campaign": campaign, "lines": [{"sku": "milk", "quantity": 2}]}, str(server["key"]))
        assert status == 201 or (status == 409 and json.loads(raw)["reason"] == "holdout"), raw[:300]
        done += status == 201
    assert done >= 2
    return done


def sign_in(page, email: str = "anna@shop.example", password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto("/app/campaigns")
    assert "/app/sign-in" in page.url                      # the app needs a person
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_build_refuse_override_and_watch_a_stock_event_pause_the_campaign(pages, shop, screenshots):
    from playwright.sync_api import expect

    page = pages.new_page()
    sign_in(page)
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    page.get_by_role("link", name="New campaign").first.click()

    page.get_by_label("Name", exact=True).fill("Breakfast week")
    search = page.get_by_label("Find products by name, sku, category or brand")
    search.fill("milk")
    page.get_by_role("button", name=re.compile(r"^product Whole milk")).click()
    search.fill("eggs")
    page.get_by_role("button", name=re.compile(r"^product Free-range eggs")).click()
    search.fill("cowco")
    expect(page.get_by_role("button", name="brand Cowco (2 products)")).to_be_visible()
    page.get_by_label("Locations").fill("S1")
    page.get_by_label("When a product runs out").select_option("pause_campaign")

    # the side panel follows the form: the audience, expected redemptions, eggs short at S1
    expect(page.locator("#pv-audience")).to_contain_text("12 customers")
    expect(page.locator("#pv-expected")).not_to_have_text("—")
    expect(page.locator("#pv-verdict")).to_contain_text("policy not met")
    expect(page.locator("#pv-pairs")).to_contain_text("eggs")
    page.screenshot(path=str(screenshots / "builder.png"), full_page=True)
    page.get_by_role("button", name="Save draft").click()

    expect(page.locator("#campaign-status")).to_have_text("draft")
    expect(page.get_by_role("status")).to_contain_text("Draft “Breakfast week” saved")
    page.get_by_role("button", name="Activate", exact=True).click()

    refusal = page.locator("#refusal")
    expect(refusal).to_contain_text("Live stock cannot carry this campaign")
    expect(page.locator("#short-pairs")).to_contain_text("eggs")
    expect(page.locator("#campaign-status")).to_have_text("draft")
    page.screenshot(path=str(screenshots / "activation-refused.png"), full_page=True)
    reason = page.get_by_label("Reason for overriding the stock check")
    page.get_by_role("button", name="Activate anyway").click()     # the browser asks for the reason first
    expect(page.locator("#campaign-status")).to_have_text("draft")
    reason.fill("eggs arrive with tonight's delivery")
    page.get_by_role("button", name="Activate anyway").click()

    expect(page.locator("#campaign-status")).to_have_text("active")
    expect(page.get_by_text("live by stock override")).to_be_visible()
    redeemed = redeem_at_s1(shop, page.url.split("/")[-1], [f"c{n:02d}" for n in range(6)])

    # the eggs come: the override lapses (the page reloads by itself); then milk runs out
    set_stock(shop, ("eggs", "S1", 60))
    expect(page.get_by_text("live by stock override")).to_have_count(0, timeout=20_000)
    set_stock(shop, ("milk", "S1", 0))
    expect(page.locator("#campaign-status")).to_have_text("paused", timeout=20_000)
    expect(page.locator("#paused-by")).to_have_text("paused by stock")
    expect(page.locator("#timeline")).to_contain_text("paused by system")
    history = page.locator("#history")
    expect(history).to_contain_text("eggs arrive with tonight's delivery")
    expect(history.get_by_role("row").filter(has_text="activation refused")).to_contain_text("anna@shop.example")
    expect(page.locator("#redemptions")).to_contain_text(str(redeemed))
    page.screenshot(path=str(screenshots / "campaign.png"), full_page=True)
    page_url = page.url

    page.goto("/app/stock-watch")
    expect(page.locator("#stock-watch")).to_contain_text("milk")
    page.screenshot(path=str(screenshots / "stock-watch.png"), full_page=True)

    # milk is back: the campaign resumes by itself, and a customer sees its offer again
    page.goto(page_url)
    set_stock(shop, ("milk", "S1", 40))
    expect(page.locator("#campaign-status")).to_have_text("active", timeout=20_000)
    expect(page.locator("#timeline")).to_contain_text("resumed by system")
    # the builder's default holdout (10%) keeps some customers from the offer, and the code is random
    shopper = next(c for c in (f"c{n:02d}" for n in range(12)) if not is_held_out(page_url.split("/")[-1], c, 10))
    page.goto(f"/app/customers?customer={shopper}")
    expect(page.get_by_role("heading", name=re.compile(shopper))).to_be_visible()
    expect(page.locator("main")).to_contain_text("Breakfast week")
    page.screenshot(path=str(screenshots / "customer.png"), full_page=True)
    page.goto("/app/campaigns")
    expect(page.get_by_role("link", name="Breakfast week")).to_be_visible()
    page.screenshot(path=str(screenshots / "campaigns.png"), full_page=True)


def test_sign_in_roles_and_csrf_are_enforced_in_the_browser(pages, shop):
    from playwright.sync_api import expect

    page = pages.new_page()
    sign_in(page, password="not the password at all")
    expect(page.get_by_text("That email and password do not match an active account.")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()

    expect(page.get_by_role("link", name="Staff")).to_have_count(0)     # marketing: no staff page
    pages.expect_status("/app/people", 403)
    page.goto("/app/people")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    page.goto("/app/campaigns/new")
    page.get_by_label("Name", exact=True).fill("Forged")
    page.locator("#campaign-form input[name=csrf_token]").evaluate("input => { input.value = 'forged'; }")
    pages.expect_status("/app/campaigns/new", 400)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    page.goto("/app/campaigns")
    expect(page.get_by_role("link", name="Forged")).to_have_count(0)

    admin = pages.new_page()
    sign_in(admin, email="root@shop.example")
    admin.get_by_role("link", name="Staff").click()
    expect(admin.locator("#people")).to_contain_text("anna@shop.example")
    admin.get_by_role("button", name="Disable anna@shop.example").click()
    expect(admin.get_by_role("status")).to_contain_text("anna@shop.example is disabled")

    page.goto("/app/campaigns")                                       # Anna's session ended
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


@pytest.mark.parametrize("path", ["/app/campaigns", "/app/campaigns/new", "/app/stock-watch",
                                  "/app/customers?customer=c01"])
def test_pages_fit_a_tablet_and_are_usable_from_the_keyboard(pages, shop, path):
    from playwright.sync_api import expect

    page = pages.new_page(width=768, height=1024)
    sign_in(page)
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()
    page.goto(path)

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "scrolls sideways"
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll('input, select, textarea'))
        .filter(e => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label'))
        .map(e => e.name || e.id)""")
    assert unlabelled == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement && document.activeElement.tagName") in ("A", "INPUT", "BUTTON")
