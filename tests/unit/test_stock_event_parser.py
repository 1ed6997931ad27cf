"""The fast stock-event parser accepts, refuses and reports exactly what the documented
schema does: the same loaded events, the same errors message for message."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError, fields, validate

from promo.api import stock_events
from promo.api.quick_checks import rule_of
from promo.api.stock_schemas import STOCK_EVENT_TYPES, StockEventBatchSchema
from promo.api.stock_events import load_stock_event_batch

times = st.one_of(
    st.sampled_from([
        "2026-11-25T10:00:00Z", "2026-11-25T10:00:00+02:00", "2026-11-25 10:00:00.5Z", "2026-11-25",
        "2026-11-25T10:00:00", "yesterday", "", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:00:00-12:00", "9999-12-31T23:59:59.999999Z", "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "2099-12-31T23:59:59.999999Z",
        "2100-01-01T00:00:00Z", "2100-01-01T01:00:00+02:00", "2026-02-30T00:00:00Z"]),
    st.integers(), st.none(), st.lists(st.none(), max_size=1))
texts = st.one_of(
    st.text(max_size=3), st.text(alphabet=st.characters(codec="utf-8"), max_size=5),
    st.sampled_from(["", "x" * 64, "x" * 65, "x" * 128, "x" * 129, "x" * 200, "x" * 201, "a/b", ".", "..",
                     "...", "a\x00b", "a\nb", "a\tb", "é", "\u2028", "x\n"]),
    st.integers(), st.none(), st.booleans(), st.dictionaries(st.text(max_size=1), st.none(), max_size=1))
quantities = st.one_of(
    st.integers(-3, 3), st.sampled_from([100_000_000, 100_000_001, -100_000_000, -100_000_001, 2**31, 2**63, -2**63]),
    st.floats(allow_nan=False, allow_infinity=False, max_value=10, min_value=-10), st.sampled_from([1.0, 2.5]),
    st.booleans(), st.just("5"), st.none(), st.integers())
values = {
    "event_id": texts, "sku": texts, "location": texts,
    "type": st.one_of(st.sampled_from(STOCK_EVENT_TYPES), st.just("gift"), st.integers(), st.none()),
    "quantity": quantities, "occurred_at": times, "reason": texts, "reservation_id": texts, "inbound_id": texts,
    "expires_at": times, "eta": times, "colour": st.just("red"),
}
events = st.one_of(st.fixed_dictionaries({}, optional=values), st.sampled_from([None, [], "x", 3]))
valid_events = st.fixed_dictionaries({
    "event_id": st.text(min_size=1, max_size=20), "sku": st.text(min_size=1, max_size=10),
    "location": st.text(min_size=1, max_size=10), "type": st.sampled_from(STOCK_EVENT_TYPES),
    "quantity": st.integers(1, 50), "occurred_at": st.just("2026-11-25T10:00:00Z"),
}, optional={"reason": st.just("damaged"), "reservation_id": st.just("r1"), "eta": st.just("2026-12-01T00:00:00Z")})


def schema_outcome(body):
    try:
        return StockEventBatchSchema().load(body), {}
    except ValidationError as error:
        return None, error.messages


@settings(max_examples=600, deadline=None)
@given(st.lists(events, min_size=0, max_size=4))
def test_the_fast_parser_gives_the_schemas_errors_message_for_message(items):
    body = {"events": items}
    loaded, schema_errors = schema_outcome(body)
    events, fast_errors = load_stock_event_batch(body)

    assert fast_errors == schema_errors
    if not schema_errors:
        assert events == loaded["events"]


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_events, min_size=1, max_size=4))
def test_the_fast_parser_returns_the_same_events_as_the_schema_when_valid(items):
    body = {"events": items}
    loaded, schema_errors = schema_outcome(body)
    events, fast_errors = load_stock_event_batch(body)

    assert fast_errors == schema_errors
    if not schema_errors:
        assert events == loaded["events"]


def test_a_body_that_is_not_an_object_or_lacks_events_is_refused_like_the_schema():
    for body in ([], "x", {}, {"events": "x"}, {"events": []}, {"events": [], "more": 1}, {"events": None}):
        _, schema_errors = schema_outcome(body)
        _, fast_errors = load_stock_event_batch(body)
        assert fast_errors and fast_errors == schema_errors, body


def test_the_parser_is_built_from_every_field_of_the_schema_and_refuses_a_validator_it_does_not_know():
    assert {rule.name for rule in stock_events._RULES} == set(StockEventBatchSchema().fields["events"].inner.schema.fields)

    with pytest.raises(TypeError, match="do not know the validator"):
        rule_of("odd", fields.String(validate=validate.Email()))
