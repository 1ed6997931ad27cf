"""Every /v1 route, every method, every role: the access matrix is what ALLOWED_ROLES says."""
from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from promo.api.auth import PERMISSION_ATTRIBUTE
from promo.domain.access import ALLOWED_ROLES, Permission, Role
from promo.services import api_keys

IGNORED_METHODS = {"HEAD", "OPTIONS"}
PUBLIC_ENDPOINTS = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"]


def v1_routes(app: Flask) -> list[tuple[str, str, Permission | None]]:
    """(path to call, method, permission the view declares) for every /v1 route method."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1"):
            continue
        view_class = app.view_functions[rule.endpoint].view_class
        # Path parameters get a value nothing is stored under: the call may 404, never crash.
        path = re.sub(r"<[^>]+>", "no-such-thing", rule.rule)
        for method in sorted(rule.methods - IGNORED_METHODS):
            view = getattr(view_class, method.lower())
            routes.append((path, method, getattr(view, PERMISSION_ATTRIBUTE, None)))
    return routes


def call(client: Any, path: str, method: str, headers: dict[str, str] | None = None):
    # An empty body: enough to get past authorisation, never enough to write anything.
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.open(path, method=method, headers=headers or {}, **body)


def test_the_walk_finds_the_routes_we_know_of(app):
    found = {(path, method) for path, method, _ in v1_routes(app)}

    assert {("/v1/products", "PUT"), ("/v1/products", "GET"), ("/v1/products/no-such-thing", "GET"),
            ("/v1/locations", "PUT"), ("/v1/customers", "GET"), ("/v1/interactions", "POST")} <= found


def test_every_v1_route_method_declares_a_permission(app):
    undeclared = [f"{method} {path}" for path, method, permission in v1_routes(app) if permission is None]

    assert undeclared == [], "these /v1 views lack @requires(Permission...)"


def test_the_routes_we_know_of_carry_the_permission_decided_for_them(app):
    # A security decision: changing one of these should be deliberate, so it is pinned here.
    decided = {
        ("/v1/products", "GET"): Permission.CATALOG_READ,
        ("/v1/products", "PUT"): Permission.CATALOG_WRITE,
        ("/v1/products/no-such-thing", "GET"): Permission.CATALOG_READ,
        ("/v1/locations", "GET"): Permission.CATALOG_READ,
        ("/v1/locations", "PUT"): Permission.CATALOG_WRITE,
        ("/v1/locations/no-such-thing", "GET"): Permission.CATALOG_READ,
        ("/v1/customers", "GET"): Permission.CUSTOMER_READ,
        ("/v1/customers", "PUT"): Permission.CUSTOMER_WRITE,
        ("/v1/customers/no-such-thing", "GET"): Permission.CUSTOMER_READ,
        ("/v1/interactions", "POST"): Permission.CUSTOMER_WRITE,
        ("/v1/carts/evaluate", "POST"): Permission.CHECKOUT,
        ("/v1/redemptions", "POST"): Permission.CHECKOUT,
        ("/v1/redemptions/no-such-thing/cancel", "POST"): Permission.CHECKOUT,
        ("/v1/campaigns/no-such-thing/codes", "POST"): Permission.MARKETING_WRITE,
        ("/v1/campaigns/no-such-thing/codes", "GET"): Permission.MARKETING_WRITE,
        ("/v1/campaigns/no-such-thing/report", "GET"): Permission.MARKETING_WRITE,
        ("/v1/customers/no-such-thing/codes", "GET"): Permission.CHANNEL_SERVE,
    }
    declared = {(path, method): permission for path, method, permission in v1_routes(app)}

    assert {route: declared.get(route) for route in decided} == decided


def test_every_permission_has_a_row_in_the_matrix_and_admin_holds_it():
    assert set(ALLOWED_ROLES) == set(Permission)
    assert all(Role.ADMIN in roles for roles in ALLOWED_ROLES.values())


def test_every_v1_route_refuses_a_request_without_a_key(app, client):
    answers = {f"{method} {path}": call(client, path, method) for path, method, _ in v1_routes(app)}

    assert {route: r.status_code for route, r in answers.items()} == {route: 401 for route in answers}
    assert all(r.headers["WWW-Authenticate"].startswith("Bearer") for r in answers.values())


@pytest.mark.parametrize("header", [
    "Bearer not-a-promo-key",
    "Basic dXNlcjpwYXNz",
    # Well formed, but no such key exists.
    "Bearer promo_0123456789abcdef_" + "A" * 43,
])
def test_every_v1_route_refuses_a_bad_key(app, client, header):
    statuses = {f"{method} {path}": call(client, path, method, {"Authorization": header}).status_code
                for path, method, _ in v1_routes(app)}

    assert statuses == {route: 401 for route in statuses}


def test_a_real_prefix_with_a_wrong_secret_is_refused(app, client, runtime):
    view, token = api_keys.create_key(runtime.unit_of_work(write=True), name="real", role="admin")
    forged = f"promo_{view['prefix']}_" + "B" * 43
    assert forged != token

    assert client.get("/v1/products", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert client.get("/v1/products", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_every_v1_route_refuses_a_revoked_key(app, client, runtime, role):
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name=f"revoked-{role.value}", role=role.value)
    api_keys.revoke_key(runtime.unit_of_work(write=True), f"revoked-{role.value}")
    headers = {"Authorization": f"Bearer {token}"}

    answers = {f"{method} {path}": call(client, path, method, headers) for path, method, _ in v1_routes(app)}

    assert {route: r.status_code for route, r in answers.items()} == {route: 401 for route in answers}
    assert all("revoked" in r.json["message"] for r in answers.values())


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_a_role_gets_through_exactly_where_the_matrix_allows_it(app, client, headers_for, role):
    headers = headers_for(role.value)
    expected, got = {}, {}
    for path, method, permission in v1_routes(app):
        route = f"{method} {path}"
        response = call(client, path, method, headers)
        if role in ALLOWED_ROLES[permission]:
            expected[route] = "let through"
            got[route] = "let through" if response.status_code not in (401, 403) else response.status_code
        else:
            expected[route] = 403
            got[route] = response.status_code
            assert response.json["code"] == 403 and role.value in response.json["message"]

    assert got == expected


def test_a_refused_role_is_refused_before_its_body_is_read(client, headers_for):
    response = client.put("/v1/products", data="{not json", content_type="application/json",
                          headers=headers_for(Role.MARKETING.value))

    assert response.status_code == 403


def test_a_missing_key_is_refused_before_the_body_is_read(client):
    response = client.put("/v1/products", data="{not json", content_type="application/json")

    assert response.status_code == 401


@pytest.mark.parametrize("path", PUBLIC_ENDPOINTS)
def test_operational_endpoints_answer_without_a_key(client, path):
    response = client.get(path)

    assert response.status_code == 200, response.get_data(as_text=True)[:300]
