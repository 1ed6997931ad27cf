"""Hostile input to the web app, signed in as an admin: every page and form walked from the
URL map with odd values in its path, its query and its fields. No answer is a 500, none
shows a stack trace, and a refused form writes nothing."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from promo.services import staff
from tests.api.test_offers import shop  # noqa: F401  (a fixture)
from tests.web.test_campaign_builder import campaigns_in, form
from tests.web.test_sign_in import PASSWORD, sign_in, token
from tests.web.test_web_access import web_routes

HOSTILE = ["", " ", "\x00", "0", "-1", "1e309", "NaN", "-inf", "9" * 400, "ü" * 600, "<script>x</script>",
           "' OR 1=1 --", "../../etc/passwd", "%", "%ff", "2026-13-45T99:99", "0x1F", "a,b,,c", "\u202e", "🛒",
           "99999999999999999999", "1.5", "-0", "1e-300", "²"]
# Query parameters the pages read (request.args in promo/web), and a few they do not.
QUERY_NAMES = ["q", "status", "after", "customer", "channel", "location", "revision", "next", "limit", "page"]
# Fields of the builder, of the transitions and of the staff page.
FORM_NAMES = ["name", "description", "sku", "category", "brand", "channel", "locations", "starts_at", "ends_at",
              "discount_type", "discount_value", "discount_buy", "discount_get", "targeting_type", "segment",
              "top_category", "min_visits", "min_spend", "top_percent", "min_probability", "holdout_percent",
              "priority", "max_redemptions", "per_customer", "budget", "min_cover_ratio",
              "min_available_per_location", "on_stockout", "resume_on_restock", "exclusive", "reason", "override",
              "revision", "email"]
SERVER_ERROR = re.compile(r"Traceback|Internal Server Error|File \"/", re.I)


@pytest.fixture
def admin_signed_in(client, runtime, shop):  # noqa: F811
    staff.create_user(runtime.unit_of_work(write=True), email="root@shop.example", name="Root", role="admin",
                      password=PASSWORD)
    sign_in(client, email="root@shop.example")
    return client


def answered_without_error(answer, what) -> None:
    body = answer.get_data(as_text=True)
    assert answer.status_code < 500, (what, answer.status_code, body[:500])
    assert not SERVER_ERROR.search(body), (what, body[:500])


def saved_campaign(client) -> str:
    answer = client.post("/app/campaigns/new", data=form(client))
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    return answer.headers["Location"].rsplit("/", 1)[1]


def test_pages_answer_odd_paths_and_queries_without_a_server_error(admin_signed_in, app, runtime):
    code = saved_campaign(admin_signed_in)
    for rule, _, method in web_routes(app):
        if method != "GET":
            continue
        for value in HOSTILE:
            segment = quote(value, safe="") or "x"
            for path in {re.sub(r"<[^>]+>", segment, rule), re.sub(r"<code>", code, rule)}:
                query = "&".join(f"{name}={quote(value, safe='%')}" for name in QUERY_NAMES)
                answered_without_error(admin_signed_in.get(f"{path}?{query}"), (rule, value))


def test_forms_refuse_odd_fields_clearly_and_write_nothing_but_what_they_accept(admin_signed_in, app, runtime):
    code = saved_campaign(admin_signed_in)
    before = campaigns_in(runtime)
    page = admin_signed_in.get("/app/campaigns").get_data(as_text=True)
    csrf = token(page)
    made = 0
    for rule, _, method in web_routes(app):
        if method != "POST" or rule == "/app/sign-out":
            continue
        for value in HOSTILE:
            for path in {re.sub(r"<[^>]+>", quote(value, safe="") or "x", rule),
                         re.sub(r"<code>", code, re.sub(r"<action>", "pause", rule))}:
                data = {name: value for name in FORM_NAMES}
                data["csrf_token"] = csrf
                answer = admin_signed_in.post(path, data=data)
                answered_without_error(answer, (rule, value))
                made += answer.status_code == 303 and "/campaigns/" in answer.headers.get("Location", "") \
                    and path.endswith(("/new", "/copy"))
    assert campaigns_in(runtime) == before + made


@pytest.mark.parametrize("path", ["/app/campaigns/new", "/app/campaigns/preview"])
def test_one_odd_field_in_an_otherwise_good_builder_form_is_refused_or_saved_never_a_500(
        admin_signed_in, runtime, path):
    good = form(admin_signed_in)
    made = 0
    for name in FORM_NAMES:
        for value in HOSTILE:
            before = campaigns_in(runtime)
            answer = admin_signed_in.post(path, data={**good, name: value})
            answered_without_error(answer, (path, name, value))
            saved = campaigns_in(runtime) - before
            assert saved == (answer.status_code == 303), (path, name, value, answer.status_code)
            made += saved
    assert path.endswith("/new") or made == 0           # the panel writes nothing


def test_nul_anywhere_in_a_request_is_refused_before_any_query(admin_signed_in, client, runtime):
    before = campaigns_in(runtime)
    good = form(admin_signed_in)
    for answer in (admin_signed_in.get("/app/customers?customer=c1&location=%00"),
                   admin_signed_in.get("/app/campaigns/cmp-%00"),
                   admin_signed_in.post("/app/campaigns/new", data={**good, "sku": ["milk", "che\x00ese"]})):
        assert answer.status_code == 400 and "Unreadable request" in answer.get_data(as_text=True)
    assert campaigns_in(runtime) == before

    admin_signed_in.post("/app/sign-out", data={"csrf_token": good["csrf_token"]})
    page = client.get("/app/sign-in").get_data(as_text=True)
    refused = client.post("/app/sign-in", data={"email": "root@shop.example\x00", "password": PASSWORD,
                                                "csrf_token": token(page)})
    assert refused.status_code == 400 and "Unreadable request" in refused.get_data(as_text=True)
