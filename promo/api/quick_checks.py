"""Quick checks derived from marshmallow fields: for the highest-volume inputs (stock event
batches, carts), a value a quick check takes is exactly what the schema's field would
load; one it does not take is handed to the field itself for its own messages (or the
whole body to the schema). A validator these checks do not know stops the import, so a
schema and its quick twin cannot drift apart silently; tests hold them together on
random input (tests/unit/test_stock_event_parser.py, tests/unit/test_cart_parser.py).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from typing import Any, Callable

from marshmallow import ValidationError, fields, missing, validate

from promo.api.schemas import (
    AtMostDecimals,
    AwareDateTime,
    CONTROL_CHARACTERS,
    CONTROL_CHARACTERS_BUT_LINES,
    _no_control_characters,
    _no_control_characters_but_line_breaks,
    datetime_range_error,
)

REMEMBERED_IDS = 100_000
_PLAIN_TEXT_RULES: dict[Callable[[str], None], re.Pattern[str]] = {
    _no_control_characters: CONTROL_CHARACTERS,
    _no_control_characters_but_line_breaks: CONTROL_CHARACTERS_BUT_LINES,
}


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a value must be for the quick check to take it as the schema would."""

    name: str
    field: fields.Field
    kind: str                                  # string | integer | decimal | datetime
    required: bool
    default: Any
    allow_none: bool
    low: float | None = None
    high: float | None = None
    choices: frozenset[str] | None = None
    patterns: tuple[re.Pattern[str], ...] = ()
    forbidden: tuple[re.Pattern[str], ...] = ()
    places: int | None = None                  # decimals: at most this many digits after the point
    text_rule: re.Pattern[str] | None = None   # decimals sent as a string must match it

    def quick_check(self) -> Callable[[Any], tuple[bool, Any]]:
        """A function: value -> (True, loaded value) when the value surely passes the
        schema's field. Specialised per rule, since it runs for every field of every event."""
        allow_none, low, high = self.allow_none, self.low, self.high
        low = float("-inf") if low is None else low
        high = float("inf") if high is None else high
        if self.kind == "integer":
            def integer(value: Any) -> tuple[bool, Any]:
                if value is None:
                    return allow_none, None
                return type(value) is int and low <= value <= high, value
            return integer
        if self.kind == "decimal":
            places, text_rule = self.places, self.text_rule

            def number(value: Any) -> tuple[bool, Any]:
                if value is None:
                    return allow_none, None
                if type(value) not in (int, float, str):
                    return False, None
                if text_rule is not None and type(value) is str and not text_rule.match(value):
                    return False, None
                try:
                    parsed = Decimal(str(value))        # as marshmallow's Decimal field reads it
                except ArithmeticError:
                    return False, None
                if not parsed.is_finite() or not low <= parsed <= high:
                    return False, None
                return places is None or parsed.as_tuple().exponent >= -places, parsed  # type: ignore[operator]
            return number
        if self.kind == "datetime":
            def moment(value: Any) -> tuple[bool, Any]:
                if value is None:
                    return allow_none, None
                if type(value) is not str:
                    return False, None
                try:
                    parsed = dt.datetime.fromisoformat(value)
                except ValueError:
                    return False, None
                return parsed.tzinfo is not None and datetime_range_error(parsed) is None, parsed
            return moment
        choices = self.choices
        if choices is not None:
            def choice(value: Any) -> tuple[bool, Any]:
                if value is None:
                    return allow_none, None
                return type(value) is str and value in choices, value
            return choice
        matches = tuple(pattern.match for pattern in self.patterns)
        searches = tuple(pattern.search for pattern in self.forbidden)
        # Ids (the fields with a pattern) repeat within and across batches: one that passed
        # once passes again, so it is remembered rather than matched anew.
        passed: dict[str, None] | None = {} if matches else None

        def string(value: Any) -> tuple[bool, Any]:
            if value is None:
                return allow_none, None
            if type(value) is not str:
                return False, None
            if passed is not None and value in passed:
                return True, value
            if not low <= len(value) <= high:
                return False, None
            for match in matches:
                if not match(value):
                    return False, None
            for search in searches:
                if search(value):
                    return False, None
            if passed is not None:
                if len(passed) >= REMEMBERED_IDS:
                    passed.clear()
                passed[value] = None
            return True, value
        return string

    def errors(self, value: Any) -> list[str]:
        """The schema field's own messages for a value the quick check did not take."""
        try:
            self.field.deserialize(value)
        except ValidationError as error:
            messages = error.messages
            return list(messages) if isinstance(messages, list) else [str(messages)]
        raise AssertionError(f"the quick check of {self.name!r} refused {value!r}, which the schema takes")


def rule_of(name: str, field: fields.Field) -> Rule:
    default = None if field.load_default is missing else field.load_default
    rule: dict[str, Any] = {"name": name, "field": field, "required": field.required, "allow_none": field.allow_none,
                            "default": None if callable(default) else default}
    if isinstance(field, AwareDateTime):
        rule["kind"] = "datetime"
    elif isinstance(field, fields.Integer) and field.strict:
        rule["kind"] = "integer"
    elif isinstance(field, fields.Decimal) and not field.allow_nan and field.places is None:
        rule["kind"] = "decimal"
        rule["text_rule"] = getattr(field, "text_rule", None)
    elif isinstance(field, fields.String):
        rule["kind"] = "string"
    else:
        raise TypeError(f"the quick checks do not know {type(field).__name__} ({name})")
    patterns, forbidden = [], []
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            rule["low"], rule["high"] = (validator.min, validator.max) if validator.equal is None \
                else (validator.equal, validator.equal)
        elif isinstance(validator, validate.Range) and validator.min_inclusive and validator.max_inclusive:
            rule["low"], rule["high"] = validator.min, validator.max
        elif isinstance(validator, validate.OneOf):
            rule["choices"] = frozenset(validator.choices)
        elif isinstance(validator, validate.Regexp):
            patterns.append(validator.regex)
        elif validator in _PLAIN_TEXT_RULES:
            forbidden.append(_PLAIN_TEXT_RULES[validator])
        elif isinstance(validator, AtMostDecimals):
            rule["places"] = validator.places
        else:
            raise TypeError(f"the quick checks do not know the validator {validator!r} of {name}")
    return Rule(**rule, patterns=tuple(patterns), forbidden=tuple(forbidden))
