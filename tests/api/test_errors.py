"""Every error leaves as JSON {code, status, message, errors} (plus reason on 409)."""
from __future__ import annotations

import pytest

from promo.domain.errors import Conflict

ERROR_KEYS = {"code", "status", "message", "errors"}
PRODUCT = {"sku": "1", "name": "Milk", "price": 1.2, "currency": "USD"}


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == (ERROR_KEYS | {"reason"} if status == 409 else ERROR_KEYS)
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], dict)
    return body


def test_an_unknown_route_is_a_json_404(client):
    assert_error(client.get("/v1/nothing-here"), 404)


def test_an_unknown_sku_is_a_json_404_naming_it(client, admin):
    body = assert_error(client.get("/v1/products/no-such-sku", headers=admin), 404)

    assert "no-such-sku" in body["message"]


def test_a_method_the_route_does_not_have_is_a_json_405_with_allow(client, admin):
    response = client.delete("/v1/products", headers=admin)

    assert_error(response, 405)
    assert {"GET", "PUT"} <= {method.strip() for method in response.headers["Allow"].split(",")}


@pytest.mark.settings(max_request_bytes=512)
def test_a_body_over_max_request_bytes_is_a_json_413_and_writes_nothing(client, admin):
    items = [{**PRODUCT, "sku": str(n), "name": "x" * 50} for n in range(20)]

    assert_error(client.put("/v1/products", json=items, headers=admin), 413)

    assert client.get("/v1/products", headers=admin).json["items"] == []
    # A body under the limit still goes through.
    assert client.put("/v1/products", json=items[:2], headers=admin).status_code == 200


def test_a_body_that_is_not_json_is_a_json_400(client, admin):
    body = assert_error(client.put("/v1/products", data="[{oops", content_type="application/json",
                                   headers=admin), 400)

    assert list(body["errors"]) == ["json"]
    assert body["errors"]["json"][0].startswith("Invalid JSON body: Expecting property name")


def test_invalid_fields_are_a_422_with_one_message_list_per_field(client, admin):
    response = client.put("/v1/locations", json=[{"code": "S1", "name": "", "kind": "moon-base",
                                                  "channels": ["store"]}], headers=admin)

    body = assert_error(response, 422)
    item = body["errors"]["json"]["0"]
    assert set(item) == {"name", "kind"}
    assert all(isinstance(messages, list) and messages for messages in item.values())


def test_batch_errors_are_keyed_by_item_index(client, admin):
    items = [PRODUCT, {**PRODUCT, "sku": "2", "price": -1}, {**PRODUCT, "sku": "3"}, {"sku": "4"}]

    body = assert_error(client.put("/v1/products", json=items, headers=admin), 422)

    assert set(body["errors"]["json"]) == {"1", "3"}
    assert set(body["errors"]["json"]["1"]) == {"price"}
    assert set(body["errors"]["json"]["3"]) == {"name", "price", "currency"}


def test_a_query_parameter_error_is_reported_under_query(client, admin):
    body = assert_error(client.get("/v1/products?limit=many", headers=admin), 422)

    assert set(body["errors"]) == {"query"}
    assert "limit" in body["errors"]["query"]


def test_authentication_errors_have_the_same_shape(client):
    assert_error(client.get("/v1/products"), 401)


def test_permission_errors_have_the_same_shape(client, headers_for):
    assert_error(client.get("/v1/customers", headers=headers_for("inventory")), 403)


def test_a_conflict_carries_a_stable_reason(app, client):
    @app.get("/test-only/conflict")
    def conflicting():
        raise Conflict("that clashes", reason="test_clash")

    body = assert_error(client.get("/test-only/conflict"), 409)

    assert body["reason"] == "test_clash"
    assert body["message"] == "that clashes"


def test_an_unexpected_exception_is_a_bare_json_500(app, client, caplog):
    @app.get("/test-only/crash")
    def crashing():
        raise RuntimeError("secret internals: password=hunter2")

    response = client.get("/test-only/crash", headers={"X-Request-Id": "crash-42"})

    body = assert_error(response, 500)
    text = response.get_data(as_text=True)
    assert "hunter2" not in text
    assert "Traceback" not in text and "RuntimeError" not in text
    assert "X-Request-Id" in body["message"]
    assert response.headers["X-Request-Id"] == "crash-42"
    # The operator gets the details, tied to the same request id.
    [record] = [r for r in caplog.records if r.name == "promo.api"]
    assert record.exc_info and "hunter2" in str(record.exc_info[1])
    assert record.request_id == "crash-42"


def test_every_response_has_a_request_id(client, admin):
    ids = {client.get("/healthz").headers["X-Request-Id"], client.get("/v1/products", headers=admin).headers["X-Request-Id"],
           client.get("/v1/nowhere").headers["X-Request-Id"]}

    assert len(ids) == 3
    assert all(ids)


def test_a_valid_client_request_id_is_echoed_back(client, admin):
    response = client.get("/v1/products", headers={**admin, "X-Request-Id": "order-7f3a.retry_2"})

    assert response.headers["X-Request-Id"] == "order-7f3a.retry_2"


@pytest.mark.parametrize("given", ["has spaces", "x" * 65, "semi;colon", "new\u00e9line"])
def test_an_unsafe_client_request_id_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-Id": given})

    assert response.headers["X-Request-Id"] not in ("", given)
