"""Every route of the web app, walked from the URL map: none answers a person who has not
signed in (GET goes to the sign-in page; a POST without its CSRF token is refused before
anything else), and the admin pages refuse marketing staff."""
from __future__ import annotations

import re

from promo.services import staff
from tests.web.test_sign_in import PASSWORD, sign_in, token

OPEN_TO_ALL = {"/app/sign-in", "/app/static/<path:filename>"}
ADMIN_ONLY = {"/app/people", "/app/people/disable"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def web_routes(app) -> list[tuple[str, str, str]]:
    """(rule, path to call, method) for every /app route but the open ones."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/app") and rule.rule not in OPEN_TO_ALL:
            path = re.sub(r"<[^>]+>", "no-such-thing", rule.rule)
            found += [(rule.rule, path, method) for method in sorted(rule.methods - IGNORED_METHODS)]
    return found


def test_the_walk_finds_the_pages_we_know_of(app):
    rules = {rule for rule, _, _ in web_routes(app)}
    assert {"/app/campaigns", "/app/campaigns/new", "/app/campaigns/<code>", "/app/campaigns/<code>/<action>",
            "/app/campaigns/preview", "/app/products/search", "/app/stock-watch", "/app/customers",
            *ADMIN_ONLY} <= rules


def test_no_page_answers_a_person_who_has_not_signed_in(app, client):
    for rule, path, method in web_routes(app):
        answer = client.open(path, method=method)
        if method == "GET":
            assert answer.status_code == 302 and answer.headers["Location"].startswith("/app/sign-in"), rule
        else:
            assert answer.status_code == 400 and b"Form expired" in answer.data, (rule, method)


def test_a_signed_in_person_without_a_csrf_token_changes_nothing(app, client, runtime):
    staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna",
                      role="marketing", password=PASSWORD)
    sign_in(client)
    for rule, path, method in web_routes(app):
        if method == "POST":
            assert client.post(path, data={"name": "x"}).status_code == 400, rule


def test_admin_pages_refuse_marketing_staff(app, client, runtime):
    staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna",
                      role="marketing", password=PASSWORD)
    sign_in(client)
    page = client.get("/app/campaigns").get_data(as_text=True)
    for rule, path, method in web_routes(app):
        if rule in ADMIN_ONLY:
            data = {"csrf_token": token(page)} if method == "POST" else None
            assert client.open(path, method=method, data=data).status_code == 403, (rule, method)
