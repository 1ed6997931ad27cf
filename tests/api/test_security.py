"""What the API gives away, and what it never does: security headers on every answer,
no secret (API key, password) in any log line, and one customer's codes and data not
reachable through another's parameters."""
from __future__ import annotations

import logging

from promo.services import api_keys, staff
from tests.api.test_checkout import issue
from tests.api.test_offers import live, shop  # noqa: F401  (a fixture)
from tests.web.test_sign_in import PASSWORD, sign_in


def test_every_api_answer_carries_the_security_headers(client, admin):
    for path, headers in (("/v1/products", admin), ("/v1/products/nope", admin), ("/v1/products", {}),
                          ("/healthz", {}), ("/openapi.json", {})):
        answer = client.get(path, headers=headers)
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert answer.headers["X-Frame-Options"] == "DENY", path
        if path.startswith("/v1/"):
            assert answer.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
            assert answer.headers["Cache-Control"] == "no-store"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "Content-Security-Policy" not in docs.headers   # Swagger UI's inline script


def test_no_secret_reaches_a_log_line(client, runtime, caplog):
    caplog.set_level(logging.DEBUG)
    _, token = api_keys.create_key(runtime.unit_of_work(write=True), name="logged", role="admin")
    staff.create_user(runtime.unit_of_work(write=True), email="anna@shop.example", name="Anna", role="marketing",
                      password=PASSWORD)
    client.get("/v1/products", headers={"Authorization": f"Bearer {token}"})
    client.get("/v1/products", headers={"Authorization": f"Bearer {token}x"})            # a wrong one too
    sign_in(client)
    sign_in(client.application.test_client(), password="wrong " + PASSWORD)

    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "request" in logged                                        # the requests were logged
    secret = token.rsplit("_", 1)[1]
    assert secret not in logged and PASSWORD not in logged


def test_a_customer_cannot_reach_another_customers_codes(client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]}, discount={"type": "percent", "value": 10})
    code = issue(client, marketing, campaign["id"], customers=["ann"])["codes"][0]["code"]
    runtime.serving.refresh()

    mine = client.get("/v1/customers/ann/codes", query_string={"location": "S1"}, headers=channel)
    theirs = client.get("/v1/customers/bob/codes", query_string={"location": "S1"}, headers=channel)

    assert [c["code"] for c in mine.json["codes"]] == [code] and theirs.json["codes"] == []
    evaluated = client.post("/v1/carts/evaluate", json={
        "customer": "bob", "channel": "store", "location": "S1", "codes": [code],
        "lines": [{"sku": "milk", "quantity": 1}]}, headers=channel).json
    assert [(n["code"], n["reason"]) for n in evaluated["not_applied"] if n.get("code")] == [(code, "code_unknown")]
