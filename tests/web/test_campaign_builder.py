"""The web app's campaign builder and campaign page through the Flask test client: the
product picker, the live audience and stock panel, saving a draft (every field checked by
the API's rules, nothing written when one is wrong), activation refused by the stock
check and overridden with a reason, the page's results, timeline and audit history naming
the person, and the audience export. The same workflow in a real browser:
tests/browser/test_marketing_workflow.py."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select

from promo.adapters.orm import Campaign, CampaignEvent
from promo.services import staff
from tests.api.test_checkout import redeem
from tests.api.test_offers import shop  # noqa: F401  (a fixture)
from tests.web.test_sign_in import PASSWORD, sign_in, token

NOW = dt.datetime.now(dt.timezone.utc)


def local(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def anna(runtime) -> staff.Person:
    return staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna",
                             role="marketing", password=PASSWORD)


@pytest.fixture
def signed_in(client, anna, shop):
    sign_in(client)
    return client


def form(client, **changes) -> dict:
    """The builder's fields as a browser sends them: milk and cheese at S1, 10% off, now
    for a week, everyone, a 10% holdout."""
    page = client.get("/app/campaigns/new").get_data(as_text=True)
    fields = {"csrf_token": token(page), "name": "Dairy week", "description": "", "sku": ["milk", "cheese"],
              "discount_type": "percent", "discount_value": "10", "starts_at": local(NOW - dt.timedelta(minutes=5)),
              "ends_at": local(NOW + dt.timedelta(days=7)), "channel": ["store"], "locations": "S1",
              "targeting_type": "everyone", "holdout_percent": "10", "priority": "0", "min_cover_ratio": "1",
              "min_available_per_location": "1", "on_stockout": "exclude_product", "resume_on_restock": "on"}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def campaigns_in(runtime) -> int:
    with runtime.unit_of_work() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Campaign)))


def created_code(answer) -> str:
    assert answer.status_code == 303, answer.get_data(as_text=True)[:2000]
    return answer.headers["Location"].rsplit("/", 1)[1]


def test_the_picker_finds_products_by_name_sku_category_and_brand(signed_in):
    def search(text: str) -> dict:
        answer = signed_in.get("/app/products/search", query_string={"q": text})
        assert answer.status_code == 200
        return answer.json

    assert [p["sku"] for p in search("chee")["products"]] == ["cheese"]            # name
    assert [p["sku"] for p in search("STEAK")["products"]] == ["steak"]            # sku, any case
    dairy = search("dair")
    assert {p["sku"] for p in dairy["products"]} == {"milk", "cheese"}
    assert dairy["categories"] == [{"name": "DAIRY", "products": 2}]
    assert search("oink")["brands"] == [{"name": "Oink", "products": 1}]
    assert search("m") == {"products": [], "categories": [], "brands": []}        # too short to search
    assert search("100%_") == {"products": [], "categories": [], "brands": []}   # wildcards are letters


def test_the_panel_shows_audience_expected_redemptions_and_stock_and_writes_nothing(signed_in, runtime):
    before = campaigns_in(runtime)

    answer = signed_in.post("/app/campaigns/preview", data=form(signed_in, sku=["milk", "ham"]))

    assert answer.status_code == 200 and "check" in answer.json, answer.json
    check = answer.json["check"]
    assert check["audience"]["eligible"] == 3 and check["audience"]["treated"] + check["audience"]["held_out"] == 3
    assert check["expected_redemptions"] > 0 and check["products"] == 2 and check["locations"] == 1
    # ham has none at S1: short, but the default policy (exclude the product) is still met
    assert (check["verdict"], check["policy_met"]) == ("at_risk", True) and [(p["sku"], p["location"], p["status"]) for p in check["positions"]] == [
        ("ham", "S1", "short")]
    wrong = signed_in.post("/app/campaigns/preview", data=form(signed_in, discount_value="lots", channel=None))
    assert wrong.status_code == 200 and "check" not in wrong.json
    assert set(wrong.json["errors"]) == {"discount.value", "channels"}
    unknown = signed_in.post("/app/campaigns/preview", data=form(signed_in, sku=["milk", "nope"]))
    assert "unknown skus: 'nope'" in unknown.json["errors"]["products.skus"][0]
    assert campaigns_in(runtime) == before


def test_a_draft_is_saved_from_the_form_and_the_audit_log_names_the_person(signed_in, runtime):
    code = created_code(signed_in.post("/app/campaigns/new", data=form(
        signed_in, name="Dairy week", category=["MEAT"], targeting_type="profile", segment=["loyal"],
        min_visits="2", max_redemptions="40", budget="100", exclusive="on")))

    saved = signed_in.get(f"/v1/campaigns/{code}")          # no key: the API is not for cookies
    assert saved.status_code == 401
    page = signed_in.get(f"/app/campaigns/{code}").get_data(as_text=True)
    assert "Dairy week" in page and "saved" in page
    with runtime.unit_of_work() as uow:
        campaign = uow.campaigns.get(code)
        assert campaign.status == "draft" and campaign.created_by == "anna@shop.example"
        assert campaign.products == {"skus": ["milk", "cheese"], "categories": ["MEAT"], "brands": []}
        assert campaign.targeting == {"type": "profile", "segments": ["loyal"], "min_visits": 2}
        assert (campaign.max_redemptions, campaign.budget, campaign.exclusive) == (40, 100, True)
        assert campaign.location_ids is not None and len(campaign.location_ids) == 1
        actors = uow.session.scalars(select(CampaignEvent.actor).where(CampaignEvent.campaign_id == campaign.id))
        assert list(actors) == ["anna@shop.example"]


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", None),
    ({"ends_at": local(NOW - dt.timedelta(days=1))}, "ends_at", "must be after starts_at"),
    ({"discount_type": "buy_x_get_y", "discount_buy": "0", "discount_get": "1"}, "discount", None),
    ({"targeting_type": "profile"}, "targeting", "profile targeting needs at least one condition"),
    ({"sku": None}, "products", "name at least one sku, category or brand"),
    ({"sku": ["milk", "nope"]}, "products", "unknown skus: &#39;nope&#39;"),
    ({"locations": "S1, DC"}, "locations", "serves none of the campaign"),
    ({"holdout_percent": "80"}, "holdout_percent", None),
])
def test_a_wrong_form_says_what_is_wrong_where_and_writes_nothing(signed_in, runtime, changes, field, message):
    before = campaigns_in(runtime)

    answer = signed_in.post("/app/campaigns/new", data=form(signed_in, **changes))

    page = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "The campaign was not saved" in page
    errors = re.findall(r'<p class="field-error" role="alert">([^<]*)</p>', page)
    assert errors, page
    if message:
        assert any(message in e for e in errors), errors
    assert f'name="{field}"' in page or field in ("discount", "targeting", "products")
    assert campaigns_in(runtime) == before
    assert 'value="Dairy week"' in page or changes.get("name") == ""          # what was typed stays


def test_activation_refused_by_stock_shows_the_short_pairs_and_the_override_needs_a_reason(signed_in, runtime):
    code = created_code(signed_in.post("/app/campaigns/new", data=form(
        signed_in, sku=["ham", "steak"], on_stockout="pause_campaign")))
    page = signed_in.get(f"/app/campaigns/{code}").get_data(as_text=True)

    refused = signed_in.post(f"/app/campaigns/{code}/activate", data={"csrf_token": token(page)})

    shown = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Live stock cannot carry this campaign" in shown   # a page, not an error
    assert re.search(r"<td>ham</td><td>S1</td><td>0</td>", shown)
    with runtime.unit_of_work() as uow:
        assert uow.campaigns.get(code).status == "draft"
    no_reason = signed_in.post(f"/app/campaigns/{code}/activate",
                               data={"csrf_token": token(shown), "override": "yes", "reason": "  "},
                               follow_redirects=True)
    assert "An override needs a reason" in no_reason.get_data(as_text=True)
    with runtime.unit_of_work() as uow:
        assert uow.campaigns.get(code).status == "draft"

    overridden = signed_in.post(f"/app/campaigns/{code}/activate", data={
        "csrf_token": token(shown), "override": "yes", "reason": "supplier delivers ham tonight"},
        follow_redirects=True)

    after = overridden.get_data(as_text=True)
    assert overridden.status_code == 200 and "with a stock override" in after
    assert "live by stock override" in after and 'id="campaign-status">active<' in after
    with runtime.unit_of_work() as uow:
        campaign = uow.campaigns.get(code)
        events = [(e.actor, e.action, e.reason) for e in uow.campaigns.events(campaign.id, after=None, limit=10)]
    assert events[1:] == [("anna@shop.example", "activation_refused", None),
                          ("anna@shop.example", "activated", "supplier delivers ham tonight")]
    history = after[after.index("Audit history"):]
    assert "supplier delivers ham tonight" in history and "activation refused" in history


def test_the_campaign_page_shows_results_charts_timeline_and_exports_its_audience(signed_in, runtime, channel):
    code = created_code(signed_in.post("/app/campaigns/new", data=form(signed_in, budget="50", holdout_percent="0")))
    page = signed_in.get(f"/app/campaigns/{code}").get_data(as_text=True)
    signed_in.post(f"/app/campaigns/{code}/activate", data={"csrf_token": token(page)})
    runtime.serving.refresh()
    redeem(signed_in, channel, [("milk", 5, "8.00")], customer="ann", campaign=code)          # 10% of 40.00
    redeem(signed_in, channel, [("cheese", 5, "5.00")], customer="bob", campaign=code)        # 10% of 25.00

    page = signed_in.get(f"/app/campaigns/{code}").get_data(as_text=True)

    assert re.search(r'id="redemptions">2\b', page)
    assert "<dt>Discount</dt><dd>10% off</dd>" in page
    assert "6.50 of 50.00" in page                                           # the budget's counter
    assert page.count("<svg") == 4 and "<script>" not in page.split("<main>")[1].split("</main>")[0]
    assert "Redemptions per day" in page and "Budget burn" in page and "Stock coverage per location" in page
    timeline = page[page.index('id="timeline"'):page.index("Audit history")]
    assert "activated" in timeline and "anna@shop.example" in timeline
    status = signed_in.get(f"/app/campaigns/{code}/status.json").json
    assert status["status"] == "active" and status["paused_by"] is None

    exported = signed_in.get(f"/app/campaigns/{code}/audience.csv")

    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert sorted(r["customer"] for r in rows) == ["ann", "bob", "cy"]


def test_transitions_that_do_not_apply_say_why_and_unknown_campaigns_are_404_pages(signed_in, runtime):
    code = created_code(signed_in.post("/app/campaigns/new", data=form(signed_in)))
    page = signed_in.get(f"/app/campaigns/{code}").get_data(as_text=True)

    resumed = signed_in.post(f"/app/campaigns/{code}/resume", data={"csrf_token": token(page)}, follow_redirects=True)

    assert "cannot resume a campaign that is draft" in resumed.get_data(as_text=True)
    missing = signed_in.get("/app/campaigns/cmp-000000000000")
    assert missing.status_code == 404 and "no campaign with id" in missing.get_data(as_text=True)
    assert missing.mimetype == "text/html"
    assert signed_in.post(f"/app/campaigns/{code}/explode", data={"csrf_token": token(page)}).status_code == 404


def test_forms_need_their_csrf_token_and_pages_a_signed_in_person(client, anna, shop, runtime):
    for path in ("/app/campaigns/new", "/app/campaigns/cmp-x", "/app/products/search", "/app/people"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/app/sign-in"), path
    sign_in(client)
    before = campaigns_in(runtime)
    fields = form(client)
    del fields["csrf_token"]
    assert client.post("/app/campaigns/new", data=fields).status_code == 400
    assert client.post("/app/campaigns/preview", data=fields).status_code == 400
    assert campaigns_in(runtime) == before


def test_only_admins_see_and_disable_staff_accounts(client, anna, runtime):
    staff.create_user(runtime.unit_of_work(write=True), email="root@shop.example", name="Root", role="admin",
                      password=PASSWORD)
    sign_in(client)
    assert client.get("/app/people").status_code == 403
    page = client.get("/app/campaigns").get_data(as_text=True)
    assert client.post("/app/people/disable", data={"csrf_token": token(page), "email": "root@shop.example"}
                       ).status_code == 403

    admin = client.application.test_client()
    sign_in(admin, email="root@shop.example")
    listing = admin.get("/app/people").get_data(as_text=True)
    assert "anna@shop.example" in listing and "root@shop.example" in listing
    admin.post("/app/people/disable", data={"csrf_token": token(listing), "email": "anna@shop.example"})

    assert client.get("/app/campaigns").status_code == 302                 # her session ended


def test_a_draft_is_edited_in_the_builder_and_a_stale_form_is_refused(signed_in, runtime):
    code = created_code(signed_in.post("/app/campaigns/new", data=form(
        signed_in, targeting_type="model", top_percent="", min_probability="0.2", budget="75")))
    with runtime.unit_of_work() as uow:
        assert uow.campaigns.get(code).targeting == {"type": "model", "min_probability": 0.2}

    page = signed_in.get(f"/app/campaigns/{code}/edit").get_data(as_text=True)

    assert 'value="Dairy week"' in page and 'name="sku" value="cheese"' in page and 'id="budget" name="budget" inputmode="decimal" value="75"' in page
    assert 'id="min_probability" name="min_probability" inputmode="decimal" value="0.2"' in page
    fields = {**form(signed_in), "csrf_token": token(page), "name": "Dairy fortnight", "revision": "1",
              "locations": ""}
    saved = signed_in.post(f"/app/campaigns/{code}/edit", data=fields, follow_redirects=True)
    assert "Changes saved." in saved.get_data(as_text=True)
    stale = signed_in.post(f"/app/campaigns/{code}/edit", data={**fields, "name": "Late"}, follow_redirects=True)
    assert "changed since this form was opened" in stale.get_data(as_text=True)
    with runtime.unit_of_work() as uow:
        campaign = uow.campaigns.get(code)
        assert campaign.name == "Dairy fortnight" and campaign.targeting == {"type": "everyone"}
        assert campaign.location_ids is None                  # cleared: every store serving the channel
        updates = [(e.actor, e.action) for e in uow.campaigns.events(campaign.id, after=None, limit=10)]
    assert updates == [("anna@shop.example", "created"), ("anna@shop.example", "updated")]


def test_any_campaign_is_copied_into_a_new_draft_opened_in_the_builder(signed_in, runtime):
    code = created_code(signed_in.post("/app/campaigns/new", data=form(signed_in)))
    page = signed_in.get(f"/app/campaigns/{code}").get_data(as_text=True)

    copied = signed_in.post(f"/app/campaigns/{code}/copy", data={"csrf_token": token(page)})

    assert copied.status_code == 303 and copied.headers["Location"].endswith("/edit")
    new_code = copied.headers["Location"].split("/")[-2]
    assert new_code != code and campaigns_in(runtime) == 2
    builder = signed_in.get(copied.headers["Location"]).get_data(as_text=True)
    assert "Edit campaign" in builder and "Copied into a new draft" in builder
    with runtime.unit_of_work() as uow:
        assert uow.campaigns.get(new_code).created_by == "anna@shop.example"


@pytest.mark.parametrize(("fields", "shown"), [
    ({"discount_type": "percent", "discount_value": "12.5"}, "12.5% off"),
    ({"discount_type": "amount_off", "discount_value": "1.5"}, "1.50 off each"),
    ({"discount_type": "fixed_price", "discount_value": "2"}, "for 2.00 each"),
    ({"discount_type": "buy_x_get_y", "discount_value": None, "discount_buy": "2", "discount_get": "1"},
     "buy 2, get 1 free"),
])
def test_the_campaign_page_says_the_discount_as_a_shopper_would(signed_in, fields, shown):
    code = created_code(signed_in.post("/app/campaigns/new", data=form(signed_in, **fields)))
    page = signed_in.get(f"/app/campaigns/{code}").get_data(as_text=True)
    assert f"<dt>Discount</dt><dd>{shown}</dd>" in page, re.findall(r"<dt>Discount</dt><dd>[^<]*</dd>", page)
