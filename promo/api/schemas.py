"""The kinds of field every request schema is built from, and the schemas every resource
shares (errors, pages). Each resource keeps its own schemas beside its blueprint
(`<resource>_schemas.py`)."""
from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate


CHANNELS = ("store", "web", "mobile")
LOCATION_KINDS = ("store", "warehouse")
INTERACTION_TYPES = ("view", "cart", "purchase")

# --- the kinds of field every request schema is built from ------------------------------
# Every value a client sends is bounded here, so that nothing it can send reaches the
# domain or the database out of range: strings have a length and no control characters
# (PostgreSQL cannot store NUL), integers are integers (2.5 and "3" are refused, not
# truncated or converted) within a range, floats are finite within a range, datetimes
# carry a timezone and fall between EARLIEST and LATEST, free-form attributes are
# bounded in size and depth. tests/api/test_hostile_input.py checks every schema an
# endpoint reads against these rules.

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
LATEST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
DATETIME_RANGE_ERROR = "Must be between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z (in UTC)."
# Control characters, and lone UTF-16 surrogates (valid in a JSON string's escapes, not in
# UTF-8: no database driver could encode them).
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
CONTROL_CHARACTERS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# Ids appear in URL paths (/v1/products/<sku>): a '/' would split the path, '.' and '..'
# are path segments of their own.
ID_PATTERN = r"^(?!\.\.?\Z)[^/\x00-\x1f\x7f\ud800-\udfff]+\Z"
ID_RULE = "Must not contain '/' or control characters, nor be '.' or '..'."
MAX_ATTRIBUTES_BYTES = 16_384
MAX_ATTRIBUTES_DEPTH = 8


def _no_control_characters(value: str) -> None:
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError("Must not contain control characters.")


def _no_control_characters_but_line_breaks(value: str) -> None:
    if CONTROL_CHARACTERS_BUT_LINES.search(value):
        raise ValidationError("Must not contain control characters other than tab and line breaks.")


# The same rules as JSON Schema patterns, so that the API's document says them too (and
# clients that generate requests from it, or fuzzers, keep to them).
TEXT_PATTERN = r"^[^\u0000-\u001F\u007F]*$"
MULTILINE_TEXT_PATTERN = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$"


def Text(max_length: int, min_length: int = 0, *, multiline: bool = False, **kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    """A string of bounded length with no control characters (tab and line breaks
    allowed in ``multiline`` free text)."""
    plain = _no_control_characters_but_line_breaks if multiline else _no_control_characters
    metadata = {"pattern": MULTILINE_TEXT_PATTERN if multiline else TEXT_PATTERN, **kwargs.pop("metadata", {})}
    return fields.String(validate=[validate.Length(min=min_length, max=max_length), plain], metadata=metadata,
                         **kwargs)


def ExternalId(**kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    """A client's id for a product, location or customer: it must be readable back through
    its own URL, so it has no '/' (see ID_RULE)."""
    return fields.String(validate=[validate.Length(min=1, max=64), validate.Regexp(ID_PATTERN, error=ID_RULE)],
                         **kwargs)


def Choice(choices, **kwargs) -> fields.String:  # type: ignore[no-untyped-def]  # noqa: N802
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def Int(low: int, high: int, **kwargs) -> fields.Integer:  # type: ignore[no-untyped-def]  # noqa: N802
    """An integer in a JSON body: a JSON integer within [low, high]; 2.5, 2.0, "3" and
    true are refused."""
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **kwargs)


def QueryInt(low: int, high: int, **kwargs) -> fields.Integer:  # type: ignore[no-untyped-def]  # noqa: N802
    """An integer in a query string (text, so not strict: "2.5" is still refused)."""
    return fields.Integer(validate=validate.Range(min=low, max=high), **kwargs)


def Number(low: float, high: float, **kwargs) -> fields.Float:  # type: ignore[no-untyped-def]  # noqa: N802
    """A finite number within [low, high]."""
    return fields.Float(allow_nan=False, validate=validate.Range(min=low, max=high), **kwargs)


class AtMostDecimals(validate.Validator):
    """A decimal with at most ``places`` digits after the point."""

    def __init__(self, places: int):
        self.places = places
        self.error = f"At most {places} decimals."

    def __call__(self, value: Any) -> Any:
        if value.as_tuple().exponent < -self.places:
            raise ValidationError(self.error)
        return value


def datetime_range_error(value: dt.datetime) -> str | None:
    """Why an aware datetime is out of range, or None. The year is checked first: a
    datetime near year 1 or 9999 may not even convert to UTC."""
    if not EARLIEST.year - 1 <= value.year <= LATEST.year or not EARLIEST <= value < LATEST:
        return DATETIME_RANGE_ERROR
    return None


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 with a timezone, between EARLIEST and LATEST; a naive value is refused
    rather than guessed."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        moment = super()._deserialize(value, attr, data, **kwargs)
        problem = datetime_range_error(moment)
        if problem:
            raise ValidationError(problem)
        return moment


def _bounded_attributes(value: dict) -> None:  # type: ignore[type-arg]
    def walk(item, depth: int) -> None:  # type: ignore[no-untyped-def]
        if depth > MAX_ATTRIBUTES_DEPTH:
            raise ValidationError(f"Must not be nested more than {MAX_ATTRIBUTES_DEPTH} levels deep.")
        if isinstance(item, dict):
            for key, inner in item.items():
                walk(key, depth)
                walk(inner, depth + 1)
        elif isinstance(item, list):
            for inner in item:
                walk(inner, depth + 1)
        elif isinstance(item, str) and UNSTORABLE.search(item):
            raise ValidationError("Must not contain NUL characters or lone surrogates.")
        elif isinstance(item, int) and not -(2**63) <= item < 2**63:
            raise ValidationError("Must not hold integers past 64 bits.")

    walk(value, 1)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_ATTRIBUTES_BYTES:
        raise ValidationError(f"Must be at most {MAX_ATTRIBUTES_BYTES} bytes as JSON.")


def Attributes(**kwargs) -> fields.Dict:  # type: ignore[no-untyped-def]  # noqa: N802
    """Free-form JSON attributes: at most MAX_ATTRIBUTES_BYTES as JSON and
    MAX_ATTRIBUTES_DEPTH levels deep, keys of at most 100 characters."""
    return fields.Dict(keys=Text(100, 1), load_default=dict, validate=_bounded_attributes, **kwargs)


class ErrorSchema(Schema):
    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String()
    errors = fields.Dict(metadata={"description": "per-field (and per item index) messages"})
    reason = fields.String(metadata={"description": "stable reason code on 409"})
    details = fields.Dict(metadata={"description": "what a 409 found, e.g. the stock check that refused an "
                                                   "activation"})


class PageQuerySchema(Schema):
    limit = QueryInt(1, 1_000_000, metadata={"description": "page size"})
    cursor = Text(1000, 1, metadata={"description": "next_cursor of the previous page"})


class PageSchema(Schema):
    next_cursor = fields.String(allow_none=True, metadata={"description": "pass as ?cursor= for the next page; null on the last"})


class UpsertResultSchema(Schema):
    upserted = fields.Integer(required=True)
