"""Hostile input: every endpoint, every field it reads, fed the shapes that once got a 500.

Two guards against the class of defect rather than its instances:
- every schema an endpoint reads bounds every field it declares (length, range, finite,
  strict integers in bodies, the datetime range, plain text, bounded attributes);
- a fuzzer walks every /v1 route and sends, field by field, values past every bound
  (huge integers, deep nesting, NaN, extreme and ill-zoned datetimes, NUL, lone
  surrogates, '/', unicode), plus hostile raw bodies; every answer must be a 4xx (or a
  2xx) in the JSON error shape, never a 5xx.
"""
from __future__ import annotations

import io
import itertools
import json
import re
from typing import Any, Iterator
from urllib.parse import quote

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings, strategies as st
from marshmallow import Schema, fields, validate

from promo.api import schemas
from promo.api.checkout_schemas import CartSchema
from promo.api.schemas import AwareDateTime
from promo.api.stock_schemas import StockEventBatchSchema

ERROR_KEYS = {"code", "status", "message", "errors"}
# Views that read their body by hand (a fast path), with the schema that is their contract.
BODY_READ_BY_HAND = {("/v1/stock/events", "POST"): StockEventBatchSchema, ("/v1/carts/evaluate", "POST"): CartSchema}
PLAIN_TEXT_RULES = (schemas._no_control_characters, schemas._no_control_characters_but_line_breaks)

# Raw JSON literals that json.dumps cannot write; put in place of a marker string.
RAW = {"__HUGE_INT__": "1" + "0" * 5000, "__BIG_FLOAT__": "1e999", "__NAN__": "NaN",
       "__DEEP__": "[" * 100_000 + "]" * 100_000, "__LONG_INT__": "1" + "0" * 400}
HOSTILE_JSON_VALUES: list[Any] = [
    None, True, -1, 0, 2**31, 2**63, -(2**63) - 1, 10**40, 1.5, 2.0, 1e308, -1e308, "", " ", "3", "x" * 20_000,
    "\x00", "a\x00b", "a/b", "..", "\ud800", "😀" * 3, [], {}, [[[[]]]], {"a": {"b": {"c": {}}}},
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-12:00", "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z",
    "2026-01-01T00:00:00", *RAW,
]
HOSTILE_QUERY_VALUES = [
    "", "-1", "1" + "0" * 400, "1" * 5000, "1e308", "nan", "inf", "2.5", "\x00", "a/b", "x" * 5000, "\u00e9",
    "0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-12:00",
]


# --- finding what each endpoint reads -----------------------------------------------------

def argument_schemas(app: Flask) -> Iterator[tuple[str, str, str, Schema]]:
    """(path, method, location, schema instance) for every argument of every /v1 view."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1"):
            continue
        view_class = app.view_functions[rule.endpoint].view_class
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view = getattr(view_class, method.lower())
            for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                schema = parameter["schema"]
                yield path, method, parameter["in"], schema() if isinstance(schema, type) else schema
            if (rule.rule, method) in BODY_READ_BY_HAND:
                yield path, method, "json", BODY_READ_BY_HAND[(rule.rule, method)]()


def loaded_fields(schema: Schema, prefix: str = "") -> Iterator[tuple[str, fields.Field]]:
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        yield prefix + name, field
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            yield from loaded_fields(inner.schema, f"{prefix}{name}.")


def bound_problems(field: fields.Field, location: str) -> list[str]:
    validators = list(field.validators)
    lengths = [v for v in validators if isinstance(v, validate.Length)]
    ranges = [v for v in validators if isinstance(v, validate.Range)]
    problems = []
    if isinstance(field, fields.List):
        return bound_problems(field.inner, location) if not isinstance(field.inner, fields.Nested) else []
    if isinstance(field, fields.String):
        if any(isinstance(v, validate.OneOf) for v in validators):
            return []
        if not any(v.max is not None or v.equal is not None for v in lengths):
            problems.append("a string without a maximum length")
        if not any(v in PLAIN_TEXT_RULES or isinstance(v, validate.Regexp) for v in validators):
            problems.append("a string that allows control characters")
    elif isinstance(field, fields.Integer):
        if not any(v.min is not None and v.max is not None for v in ranges):
            problems.append("an integer without both bounds")
        if location == "json" and not field.strict:
            problems.append("a body integer that is not strict (2.5 would be truncated)")
    elif isinstance(field, fields.Decimal):
        if field.allow_nan or not any(v.min is not None and v.max is not None for v in ranges):
            problems.append("a decimal that allows NaN or lacks a bound")
    elif isinstance(field, fields.Float):
        if field.allow_nan or not any(v.min is not None and v.max is not None for v in ranges):
            problems.append("a float that allows NaN or lacks a bound")
    elif isinstance(field, fields.DateTime):
        if not isinstance(field, AwareDateTime):
            problems.append("a datetime that is not the bounded AwareDateTime")
    elif isinstance(field, fields.Dict):
        if schemas._bounded_attributes not in validators:
            problems.append("a free-form dict without size and depth bounds")
    elif not isinstance(field, (fields.Boolean, fields.Nested)):
        problems.append(f"a {type(field).__name__} the rules do not cover")
    return problems


def test_the_walk_finds_every_body_and_query_the_api_reads(app):
    found = {(path, method, location) for path, method, location, _ in argument_schemas(app)}

    assert {("/v1/products", "PUT", "json"), ("/v1/stock/events", "POST", "json"),
            ("/v1/stock/low", "GET", "query"), ("/v1/interactions", "POST", "json"),
            ("/v1/audiences/score", "POST", "json")} <= found


def test_every_field_an_endpoint_reads_is_bounded(app):
    problems = [f"{method} {path} {location} {name}: {problem}"
                for path, method, location, schema in argument_schemas(app)
                for name, field in loaded_fields(schema)
                for problem in bound_problems(field, location)]

    assert problems == []


def test_the_bound_check_itself_catches_an_unbounded_field():
    assert bound_problems(fields.Integer(), "json") == [
        "an integer without both bounds", "a body integer that is not strict (2.5 would be truncated)"]
    assert bound_problems(fields.String(), "query") == [
        "a string without a maximum length", "a string that allows control characters"]
    assert bound_problems(fields.Float(validate=validate.Range(min=0)), "json") == [
        "a float that allows NaN or lacks a bound"]
    assert bound_problems(fields.Decimal(allow_nan=True, validate=validate.Range(min=0, max=1)), "json") == [
        "a decimal that allows NaN or lacks a bound"]


# --- the fuzzer ---------------------------------------------------------------------------

def plausible(field: fields.Field) -> Any:
    """A value of the field's type, so that one hostile field is tried at a time."""
    for v in field.validators:
        if isinstance(v, validate.OneOf):
            return next(iter(v.choices))
    if isinstance(field, fields.Nested):
        return {name: plausible(f) for name, f in field.schema.fields.items() if not f.dump_only}
    if isinstance(field, fields.List):
        return [plausible(field.inner)]
    if isinstance(field, fields.DateTime):
        return "2026-01-01T00:00:00Z"
    if isinstance(field, (fields.Integer, fields.Float)):
        low = next((v.min for v in field.validators if isinstance(v, validate.Range) and v.min is not None), 1)
        return int(low) if isinstance(field, fields.Integer) else float(low)
    if isinstance(field, fields.Boolean):
        return False
    if isinstance(field, fields.Dict):
        return {}
    return "a"


def bodies(schema: Schema) -> Iterator[tuple[str, str]]:
    """(what was changed, raw JSON body) with one field hostile at a time."""
    base = {name: plausible(f) for name, f in schema.fields.items() if not f.dump_only}

    def paths(obj_schema: Schema, target: dict[str, Any], trail: str) -> Iterator[tuple[str, dict[str, Any], str]]:
        for name, field in obj_schema.fields.items():
            if field.dump_only:
                continue
            yield f"{trail}{name}", target, name
            inner = field.inner if isinstance(field, fields.List) else field
            if isinstance(inner, fields.Nested):
                nested = target[name][0] if isinstance(field, fields.List) else target[name]
                yield from paths(inner.schema, nested, f"{trail}{name}.")

    for where, target, name in list(paths(schema, base, "")):
        kept = target[name]
        for value in HOSTILE_JSON_VALUES:
            target[name] = value
            document = [base] if schema.many else base
            text = json.dumps(document)
            for marker, literal in RAW.items():
                text = text.replace(json.dumps(marker), literal)
            yield f"{where}={str(value)[:40]!r}", text
        target[name] = kept


def assert_no_server_error(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    if response.status_code >= 400:
        assert response.mimetype == "application/json", what
        assert set(response.json) >= ERROR_KEYS, what


@pytest.fixture
def stocked_catalog(client, admin):
    """Something for the hostile requests to refer to (a sku 'a', a store 'a')."""
    assert client.put("/v1/locations", json=[{"code": "a", "name": "A", "kind": "store",
                                              "channels": ["store", "web", "mobile"]}], headers=admin).status_code == 200
    assert client.put("/v1/products", json=[{"sku": "a", "name": "A", "price": 1, "currency": "USD"}],
                      headers=admin).status_code == 200


@pytest.mark.slow
def test_no_hostile_field_value_in_any_body_gets_a_server_error(app, client, admin, stocked_catalog):
    tried = 0
    for path, method, location, schema in argument_schemas(app):
        if location != "json":
            continue
        for what, text in bodies(schema):
            response = client.open(path, method=method, data=text, content_type="application/json", headers=admin)
            assert_no_server_error(response, f"{method} {path} {what}")
            tried += 1
    assert tried > 1000


@pytest.mark.slow
def test_no_hostile_query_value_gets_a_server_error(app, client, admin, stocked_catalog):
    tried = 0
    for path, method, location, schema in argument_schemas(app):
        if location != "query":
            continue
        names = [name for name, field in schema.fields.items() if not field.dump_only]
        base = {name: str(plausible(field)) if not isinstance(plausible(field), list) else str(plausible(field)[0])
                for name, field in schema.fields.items() if not field.dump_only}
        for name, value in itertools.product(names, HOSTILE_QUERY_VALUES):
            query = "&".join(f"{k}={quote(value if k == name else v)}" for k, v in base.items())
            response = client.open(f"{path}?{query}", method=method, headers=admin)
            assert_no_server_error(response, f"{method} {path}?{name}={value[:40]!r}")
            tried += 1
    assert tried > 200


HOSTILE_PATH_VALUES = ["x" * 10_000, "%00", "%ff%fe", "..", "%2e%2e", "a%0ab", "%C0%AF", "\u00e9" * 100, "a%2Fb"]
HOSTILE_AUTHORIZATION = ["Bearer " + "x" * 20_000, "Bearer \x7f", "Bearer promo_x_y", "Basic abc", "Bearer",
                         "Bearer promo__", "Bearer promo_" + "0" * 16 + "_"]


def test_no_hostile_path_value_or_header_gets_a_server_error(app, client, admin):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1") and "<" in rule.rule]
    for rule, value in itertools.product(rules, HOSTILE_PATH_VALUES):
        path = re.sub(r"<[^>]+>", value, rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert_no_server_error(client.open(path, method=method, headers=admin), f"{method} {path[:60]}")
    for value in HOSTILE_AUTHORIZATION:
        response = client.get("/v1/products", headers={"Authorization": value})
        assert response.status_code == 401, value[:30]
    for request_id in ("x" * 10_000, "\x00", "\u00e9"):
        response = client.get("/v1/products", headers={**admin, "X-Request-Id": request_id})
        assert response.status_code == 200 and 0 < len(response.headers["X-Request-Id"]) <= 128


HOSTILE_RAW_BODIES = [
    ("deep nesting", "[" * 100_000 + "]" * 100_000),
    ("deep objects", '{"a":' * 50_000 + "1" + "}" * 50_000),
    ("an integer of 5,000 digits", "1" + "0" * 5000),
    ("NaN", "NaN"), ("Infinity", "[Infinity]"), ("a float past double", "[1e999]"),
    ("invalid UTF-8", b"\xff\xfe[1]"), ("a lone surrogate", '["\\ud800"]'), ("nothing", ""), ("null", "null"),
]


@pytest.mark.parametrize("what,body", HOSTILE_RAW_BODIES, ids=[w for w, _ in HOSTILE_RAW_BODIES])
def test_a_hostile_raw_body_is_a_json_4xx_on_every_body_endpoint(app, client, admin, what, body):
    for path, method, location, _ in argument_schemas(app):
        if location == "json":
            response = client.open(path, method=method, data=body, content_type="application/json", headers=admin)
            assert 400 <= response.status_code < 500, f"{what} to {method} {path}: {response.status_code}"
            assert set(response.json) >= ERROR_KEYS


def test_json_nested_past_the_parser_is_a_400_that_says_so(client, admin):
    body = client.put("/v1/products", data="[" * 100_000 + "]" * 100_000, content_type="application/json",
                      headers=admin).json

    assert body["code"] == 400 and "nested too deeply" in body["message"]


def test_an_integer_of_thousands_of_digits_is_a_400_naming_the_limit(client, admin):
    body = client.post("/v1/audiences/score", data='{"skus": ["a"], "limit": 1' + "0" * 5000 + "}",
                       content_type="application/json", headers=admin).json

    assert body["code"] == 400 and "an integer of more than 4300 digits" in body["message"]


def test_a_threshold_of_hundreds_of_digits_is_a_422_naming_it(client, admin, stocked_catalog):
    response = client.get("/v1/stock/low?location=a&threshold=1" + "0" * 400, headers=admin)

    assert response.status_code == 422
    assert list(response.json["errors"]["query"]) == ["threshold"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-12:00",
                                    "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
@pytest.mark.parametrize("field", ["occurred_at", "expires_at", "eta"])
def test_a_stock_datetime_out_of_range_is_a_422_naming_it_and_nothing_is_logged(client, admin, stocked_catalog,
                                                                                 row_count, moment, field):
    event = {"event_id": "e1", "sku": "a", "location": "a", "type": "reserve", "quantity": 1,
             "reservation_id": "r1", "occurred_at": "2026-01-01T00:00:00Z"}
    if field == "eta":
        event = {**event, "type": "inbound", "reservation_id": None}
    event[field] = moment

    response = client.post("/v1/stock/events", json={"events": [event]}, headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["json"]["events"]["0"][field] == [schemas.DATETIME_RANGE_ERROR]
    assert row_count("stock_events") == 0


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-12:00"])
def test_an_interaction_datetime_out_of_range_is_a_422_naming_it(client, admin, stocked_catalog, row_count, moment):
    event = {"event_id": "i1", "customer": "c1", "sku": "a", "type": "view", "channel": "web", "occurred_at": moment}

    response = client.post("/v1/interactions", json={"events": [event]}, headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["json"]["events"]["0"]["occurred_at"] == [schemas.DATETIME_RANGE_ERROR]
    assert row_count("interactions") == 0


@pytest.mark.parametrize("path,body,field", [
    ("/v1/locations", [{"code": "S9", "name": "n", "kind": "store", "channels": ["store"], "lead_time_days": 2.5}],
     "lead_time_days"),
    ("/v1/locations", [{"code": "S9", "name": "n", "kind": "store", "channels": ["store"], "lead_time_days": 2.0}],
     "lead_time_days"),
    ("/v1/stock/safety", [{"sku": "a", "location": "a", "safety_stock": 1.9}], "safety_stock"),
    ("/v1/stock/safety", [{"sku": "a", "location": "a", "safety_stock": "3"}], "safety_stock"),
])
def test_a_non_integer_where_an_integer_is_wanted_is_refused_not_truncated(client, admin, stocked_catalog, path,
                                                                           body, field):
    response = client.put(path, json=body, headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["json"]["0"][field] == ["Not a valid integer."]


@pytest.mark.parametrize("quantity", [2.9, "3", True])
def test_an_interaction_quantity_that_is_not_an_integer_is_refused(client, admin, stocked_catalog, row_count,
                                                                   quantity):
    event = {"event_id": "i1", "customer": "c1", "sku": "a", "type": "purchase", "quantity": quantity,
             "channel": "store", "occurred_at": "2026-01-01T00:00:00Z"}

    response = client.post("/v1/interactions", json={"events": [event]}, headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["json"]["events"]["0"]["quantity"] == ["Not a valid integer."]
    assert row_count("interactions") == 0


def test_a_nul_in_product_search_is_a_422_not_a_match_for_everything(client, admin, stocked_catalog):
    response = client.get("/v1/products?q=%00", headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["query"]["q"] == ["Must not contain control characters."]


def test_attributes_past_their_size_or_depth_are_refused(client, admin, row_count):
    big = {"sku": "big", "name": "n", "price": 1, "currency": "USD", "attributes": {"x": "y" * 20_000}}
    deep = {"sku": "deep", "name": "n", "price": 1, "currency": "USD", "attributes": json.loads(
        '{"a":' * 9 + "1" + "}" * 9)}
    fine = {"sku": "fine", "name": "n", "price": 1, "currency": "USD", "attributes": json.loads(
        '{"a":' * 7 + "1" + "}" * 7)}

    answers = [client.put("/v1/products", json=[item], headers=admin) for item in (big, deep, fine)]

    assert [a.status_code for a in answers] == [422, 422, 200]
    assert answers[0].json["errors"]["json"]["0"]["attributes"] == ["Must be at most 16384 bytes as JSON."]
    assert answers[1].json["errors"]["json"]["0"]["attributes"] == ["Must not be nested more than 8 levels deep."]
    assert row_count("products") == 1


def test_a_body_that_is_not_json_by_its_content_type_is_a_415(client, admin, row_count):
    item = json.dumps([{"sku": "a", "name": "A", "price": 1, "currency": "USD"}])

    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        response = client.put("/v1/products", data=item, content_type=content_type, headers=admin)
        assert response.status_code == 415, content_type
        assert response.json["errors"] == {"headers": {"Content-Type": ["must be application/json"]}}
    assert client.post("/v1/stock/events", data="{}", content_type="text/plain", headers=admin).status_code == 415
    assert row_count("products") == 0


@pytest.mark.settings(max_request_bytes=1024)
def test_a_chunked_body_over_the_limit_is_a_413_not_a_400(client, admin):
    body = json.dumps({"events": [{"event_id": f"e{i}", "sku": "a", "location": "a", "type": "sale", "quantity": 1,
                                   "occurred_at": "2026-01-01T00:00:00Z"} for i in range(50)]}).encode()

    for path, method in (("/v1/stock/events", "POST"), ("/v1/interactions", "POST"), ("/v1/products", "PUT")):
        response = client.open(path, method=method, input_stream=io.BytesIO(body), headers={
            **admin, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True})
        assert response.status_code == 413, (path, response.get_data(as_text=True))
        assert set(response.json) >= ERROR_KEYS
    # Under the limit, a chunked body is read whole.
    small = json.dumps([{"sku": "s", "name": "S", "price": 1, "currency": "USD"}]).encode()
    response = client.put("/v1/products", input_stream=io.BytesIO(small), headers={
        **admin, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200 and response.json == {"upserted": 1}


def test_a_repeated_event_id_with_different_content_refuses_the_batch_naming_both(client, admin, stocked_catalog,
                                                                                  row_count):
    first = {"event_id": "e1", "sku": "a", "location": "a", "type": "receipt", "quantity": 5,
             "occurred_at": "2026-01-01T00:00:00Z"}
    response = client.post("/v1/stock/events", json={"events": [first, {**first, "quantity": 6}]}, headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["json"]["events"] == {
        "1": {"event_id": ["'e1' repeats item 0 of this batch with different content"]}}
    assert row_count("stock_events") == 0
    # The same content twice is a retry: accepted once, counted as a duplicate.
    same = client.post("/v1/stock/events", json={"events": [first, dict(first)]}, headers=admin).json
    assert (same["accepted"], same["duplicates"]) == (1, 1)


def test_a_repeated_interaction_event_id_with_different_content_refuses_the_batch(client, admin, stocked_catalog,
                                                                                  row_count):
    event = {"event_id": "i1", "customer": "c1", "sku": "a", "type": "view", "channel": "web",
             "occurred_at": "2026-01-01T00:00:00Z"}

    response = client.post("/v1/interactions", json={"events": [event, {**event, "type": "cart"}]}, headers=admin)

    assert response.status_code == 422
    assert response.json["errors"]["json"]["events"]["1"]["event_id"] == [
        "'i1' repeats item 0 of this batch with different content"]
    assert row_count("interactions") == 0


# --- ids that must read back through their own route --------------------------------------

id_texts = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=64)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sku=id_texts)
def test_every_sku_the_api_accepts_reads_back_through_its_own_routes_and_the_rest_are_refused(client, admin, sku):
    response = client.put("/v1/products", json=[{"sku": sku, "name": "n", "price": 1, "currency": "USD"}],
                          headers=admin)
    path = quote(sku, safe="")

    if response.status_code == 422:
        assert response.json["errors"]["json"]["0"]["sku"] == [schemas.ID_RULE]
        assert "/" in sku or sku in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in sku)
        return
    assert response.status_code == 200
    assert client.get(f"/v1/products/{path}", headers=admin).json["sku"] == sku
    assert client.get(f"/v1/products/{path}/stock", headers=admin).json["sku"] == sku


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=id_texts)
def test_every_location_code_and_customer_id_the_api_accepts_reads_back(client, admin, code):
    location = client.put("/v1/locations", json=[{"code": code, "name": "n", "kind": "store", "channels": ["store"]}],
                          headers=admin)
    customer = client.put("/v1/customers", json=[{"id": code}], headers=admin)
    path = quote(code, safe="")

    assert location.status_code == customer.status_code
    if location.status_code == 200:
        assert client.get(f"/v1/locations/{path}", headers=admin).json["code"] == code
        assert client.get(f"/v1/customers/{path}", headers=admin).json["id"] == code


@pytest.mark.parametrize("sku", ["low", "events", "safety"])
def test_skus_named_like_the_fixed_stock_routes_read_back(client, admin, sku):
    assert client.put("/v1/products", json=[{"sku": sku, "name": "n", "price": 1, "currency": "USD"}],
                      headers=admin).status_code == 200

    assert client.get(f"/v1/products/{sku}/stock", headers=admin).json == {"sku": sku, "as_of_seq": 0,
                                                                            "locations": []}


def test_no_fixed_route_shares_a_path_with_an_id_and_options_advertise_only_real_methods(app, client, admin):
    rules = [rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1")]
    for rule in rules:
        if "<" not in rule:
            continue
        pattern = re.compile("^" + re.sub(r"<[^>]+>", "[^/]+", re.escape(rule).replace(r"\<", "<").replace(r"\>", ">"))
                             + "$")
        shadowed = [fixed for fixed in rules if "<" not in fixed and pattern.match(fixed)]
        assert shadowed == [], f"{rule} is shadowed by {shadowed}"

    allowed = client.open("/v1/stock/events", method="OPTIONS", headers=admin).headers["Allow"]
    assert {method.strip() for method in allowed.split(",")} == {"POST", "OPTIONS"}
