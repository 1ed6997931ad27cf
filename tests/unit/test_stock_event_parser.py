"""The fast stock-event parser accepts and refuses exactly what the documented schema does."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError

from promo.api.schemas import STOCK_EVENT_TYPES, StockEventBatchSchema
from promo.api.stock_events import load_stock_event_batch

times = st.sampled_from(["2026-11-25T10:00:00Z", "2026-11-25T10:00:00+02:00", "2026-11-25 10:00:00.5Z",
                         "2026-11-25", "2026-11-25T10:00:00", "yesterday", "", 5, None])
texts = st.one_of(st.text(max_size=3), st.sampled_from(["", "x" * 64, "x" * 65, "x" * 129, "x" * 201]),
                  st.integers(), st.none())
quantities = st.one_of(st.integers(-3, 3), st.sampled_from([100_000_000, 100_000_001, -100_000_001]),
                       st.floats(allow_nan=False, allow_infinity=False, max_value=10, min_value=-10),
                       st.booleans(), st.just("5"), st.none())
values = {
    "event_id": texts, "sku": texts, "location": texts,
    "type": st.one_of(st.sampled_from(STOCK_EVENT_TYPES), st.just("gift"), st.integers()),
    "quantity": quantities, "occurred_at": times, "reason": texts, "reservation_id": texts, "inbound_id": texts,
    "expires_at": times, "eta": times, "colour": st.just("red"),
}
events = st.fixed_dictionaries({}, optional=values)
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


def error_fields(errors):
    """{index: set of fields} for item errors, plus top-level keys."""
    shape = {key: value for key, value in errors.items() if key != "events"}
    items = errors.get("events", {})
    if isinstance(items, dict):
        return set(shape), {index: set(fields) for index, fields in items.items()}
    return set(shape) | {"events"}, {}


@settings(max_examples=400, deadline=None)
@given(st.lists(events, min_size=0, max_size=4))
def test_the_fast_parser_refuses_the_same_fields_of_the_same_items_as_the_schema(items):
    body = {"events": items}
    _, schema_errors = schema_outcome(body)
    _, fast_errors = load_stock_event_batch(body)
    assert error_fields(fast_errors) == error_fields(schema_errors)


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_events, min_size=1, max_size=4))
def test_the_fast_parser_returns_the_same_events_as_the_schema_when_valid(items):
    body = {"events": items}
    loaded, schema_errors = schema_outcome(body)
    events, fast_errors = load_stock_event_batch(body)
    assert error_fields(fast_errors) == error_fields(schema_errors)
    if not schema_errors:
        assert events == loaded["events"]


def test_a_body_that_is_not_an_object_or_lacks_events_is_refused_like_the_schema():
    for body in ([], "x", {}, {"events": "x"}, {"events": []}, {"events": [], "more": 1}):
        _, schema_errors = schema_outcome(body)
        _, fast_errors = load_stock_event_batch(body)
        assert fast_errors and schema_errors
        assert set(fast_errors) == set(schema_errors), body
