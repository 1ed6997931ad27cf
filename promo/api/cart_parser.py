"""A fast parser for carts, the body checkout evaluates on every page of a basket.

``CartSchema`` is the contract (what /openapi.json shows and what every error message
comes from); this parser takes a well-formed cart through quick checks derived from the
schema's own fields (promo.api.quick_checks), and hands anything they do not take to the
schema, so a bad cart gets exactly the schema's 422. On a 20-line cart it costs a tenth of
marshmallow's load. tests/unit/test_cart_parser.py holds the two together on random input.
"""
from __future__ import annotations

from typing import Any

from marshmallow import validate

from promo.api.checkout_schemas import CartLineSchema, CartSchema
from promo.api.quick_checks import rule_of

_CART = CartSchema()
_LINES = _CART.fields["lines"]
_CODES = _CART.fields["codes"]
_TOP = tuple((rule, rule.name, rule.quick_check()) for rule in (
    rule_of(name, field) for name, field in _CART.fields.items() if name not in ("lines", "codes")))
_LINE = tuple((rule, rule.name, rule.quick_check()) for rule in (
    rule_of(name, field) for name, field in CartLineSchema().fields.items()))
_LINE_FIELDS = frozenset(name for _, name, _ in _LINE)
_FIELDS = frozenset(_CART.fields)
_CODE_CHECK = rule_of("codes", _CODES.inner).quick_check()
_LINES_LENGTH = next(v for v in _LINES.validators if isinstance(v, validate.Length))
_CODES_LENGTH = next(v for v in _CODES.validators if isinstance(v, validate.Length))


def _flat(item: dict[str, Any], checks: tuple[Any, ...]) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    for rule, name, check in checks:
        if name not in item:
            if rule.required:
                return None
            data[name] = rule.default
            continue
        ok, value = check(item[name])
        if not ok:
            return None
        data[name] = value
    return data


def _quick(body: Any) -> dict[str, Any] | None:
    """The loaded cart when every quick check takes it, else None."""
    if type(body) is not dict or not body.keys() <= _FIELDS:
        return None
    cart = _flat(body, _TOP)
    lines = body.get("lines")
    if cart is None or type(lines) is not list or not _LINES_LENGTH.min <= len(lines) <= _LINES_LENGTH.max:
        return None
    loaded = []
    for line in lines:
        if type(line) is not dict or not line.keys() <= _LINE_FIELDS:
            return None
        found = _flat(line, _LINE)
        if found is None:
            return None
        loaded.append(found)
    codes = body.get("codes", [])
    if type(codes) is not list or len(codes) > _CODES_LENGTH.max:
        return None
    checked = [_CODE_CHECK(code) for code in codes]
    if not all(ok for ok, _ in checked):
        return None
    cart["lines"] = loaded
    cart["codes"] = [value for _, value in checked]
    return cart


def load_cart(body: Any) -> dict[str, Any]:
    """The cart as CartSchema loads it; raises the schema's ValidationError when invalid."""
    found = _quick(body)
    return found if found is not None else _CART.load(body)
