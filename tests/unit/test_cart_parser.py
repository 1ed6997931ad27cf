"""The cart fast parser (promo/api/cart_parser.py) against CartSchema on random input:
whatever the quick checks take, the schema takes and loads to the same cart; whatever
the schema refuses, the parser refuses with the schema's own messages."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st
from marshmallow import ValidationError

from promo.api.cart_parser import _quick, load_cart
from promo.api.checkout_schemas import CartSchema

texts = st.one_of(
    st.text(max_size=3), st.sampled_from(["", "x" * 64, "x" * 65, "a/b", ".", "..", "a\x00b", "é", " ab-1 ", "AB",
                                          "ab_c", "S1", "usd", "USD", "EURO"]),
    st.integers(), st.none(), st.booleans())
amounts = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(), st.integers(-5, 2_000_000),
    st.sampled_from(["1.5", "1.23456", "1.2345", "NaN", "-0", "1e3", "1E+3", "1e-5", "abc", "", " 2 ", "1000000",
                     "1000000.01", "0x10", "1_000", "+1", ".5", "5.", True, False]), st.none())
lines = st.one_of(st.fixed_dictionaries({}, optional={
    "sku": texts, "quantity": st.one_of(st.integers(-1, 10_001), st.floats(), st.booleans(), st.just("2")),
    "unit_price": amounts, "colour": st.just("red")}), st.sampled_from([None, [], "x", 3]))
carts = st.fixed_dictionaries({}, optional={
    "customer": texts, "channel": st.one_of(st.sampled_from(["store", "web", "mobile", "till"]), texts),
    "location": texts, "currency": texts, "lines": st.one_of(st.lists(lines, max_size=3), texts),
    "codes": st.one_of(st.lists(texts, max_size=3), texts), "extra": st.just(1)})
valid_lines = st.fixed_dictionaries({"sku": st.sampled_from(["milk", "1029743", "é-1"]),
                                     "quantity": st.integers(1, 10_000)},
                                    optional={"unit_price": st.one_of(
                                        st.decimals("0", "1000000", places=4).map(str),
                                        st.integers(0, 1_000_000), st.none())})
valid_carts = st.fixed_dictionaries(
    {"channel": st.sampled_from(["store", "web", "mobile"]), "location": st.just("S1"),
     "lines": st.lists(valid_lines, min_size=1, max_size=20)},
    optional={"customer": st.just("ann"), "currency": st.sampled_from(["USD", "jpy", None]),
              "codes": st.lists(st.sampled_from(["SUMMER20", " pr-abcd ", "X1Y"]), max_size=3)})


def schema_outcome(body):
    try:
        return CartSchema().load(body), None
    except ValidationError as error:
        return None, error.messages


def parser_outcome(body):
    try:
        return load_cart(body), None
    except ValidationError as error:
        return None, error.messages


@settings(max_examples=800, deadline=None)
@given(carts)
def test_the_parser_answers_as_the_schema_on_any_cart(body):
    assert parser_outcome(body) == schema_outcome(body)


@settings(max_examples=300, deadline=None)
@given(valid_carts)
def test_a_well_formed_cart_takes_the_quick_path_and_loads_as_the_schema_loads_it(body):
    loaded, errors = schema_outcome(body)

    assert errors is None and _quick(body) == loaded


def test_quick_checks_refuse_what_the_schema_refuses_without_deciding_the_message():
    for body in ({"channel": "store", "location": "S1", "lines": [{"sku": "m", "quantity": 1, "unit_price": "NaN"}]},
                 {"channel": "store", "location": "S1", "lines": [{"sku": "m", "quantity": True}]},
                 {"channel": "store", "location": "S1", "lines": [{"sku": "m", "quantity": 1, "unit_price": 1.23456}]},
                 {"channel": "store", "location": "S1", "lines": [{"sku": "m", "quantity": 1, "unit_price": "1e3"}]}):
        assert _quick(body) is None
        with pytest.raises(ValidationError):
            load_cart(body)
    assert load_cart({"channel": "store", "location": "S1", "lines": [{"sku": "m", "quantity": 1,
                                                                        "unit_price": 2.5}]})["lines"][0][
        "unit_price"] == Decimal("2.5")
