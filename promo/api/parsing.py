"""How a request body becomes data: one JSON reader for every endpoint, with limits.

Python's json module accepts what a service must not: nesting deep enough to exhaust the
interpreter's stack, integers of thousands of digits (which then fail to convert), and
the non-JSON constants NaN and Infinity, which PostgreSQL cannot store. This reader
refuses each of them with a 400 in the usual error shape; every view reads its body
through it (flask-smorest's views through ``Blueprint``, the stock-event fast path
through ``json_body``).
"""
from __future__ import annotations

import json
import math
from typing import Any

import flask_smorest
from flask import Request, g, request
from flask_smorest import abort
from webargs import core
from werkzeug.exceptions import RequestEntityTooLarge
from webargs.flaskparser import FlaskParser

# A quantity is at most nine digits and a sequence number nineteen; nothing we accept
# needs more, and refusing longer ones at the parser keeps int() from doing quadratic work.
MAX_INTEGER_DIGITS = 30
JSON_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyNotJson(ValueError):
    """The body is not JSON that this service reads; the message says why."""


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise BodyNotJson(f"an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyNotJson(f"a number out of range ({text[:20]})")
    return value


def _constant(name: str) -> Any:
    raise BodyNotJson(f"{name} is not JSON")


def parse_json(data: bytes | str) -> Any:
    """The JSON document in ``data``; BodyNotJson when it is not one this service reads."""
    try:
        return json.loads(data, parse_int=_integer, parse_float=_finite, parse_constant=_constant)
    except BodyNotJson:
        raise
    except RecursionError:
        raise BodyNotJson("nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:   # JSONDecodeError is a ValueError
        raise BodyNotJson(str(exc).splitlines()[0][:200]) from None


def has_body(req: Request) -> bool:
    return bool(req.content_length) or "chunked" in req.headers.get("Transfer-Encoding", "").lower()


def _body_bytes() -> bytes:
    """The body, at most max_request_bytes of it (413 beyond). A body of unknown length
    (chunked) is read here with one byte to spare: werkzeug's own limit on such a stream
    cuts it off silently, which would then be taken for invalid JSON."""
    limit = request.max_content_length
    if request.content_length is None and limit is not None and has_body(request):
        data = request.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
        return data
    return request.get_data(cache=True)


def json_body() -> Any:
    """The request's JSON body, read once (a body over max_request_bytes is a 413, chunked
    or not); aborts with 400 when it is not JSON."""
    if "json_body" not in g:
        data = _body_bytes()
        try:
            g.json_body = parse_json(data) if data else None
        except BodyNotJson as exc:
            abort(400, message=f"invalid JSON body: {exc}", errors={"json": [f"Invalid JSON body: {exc}."]})
    return g.json_body


def require_json_content_type() -> None:
    """before_request: a body sent to the API must say it is JSON (415 otherwise)."""
    if request.method in JSON_BODY_METHODS and has_body(request) and not core.is_json(request.mimetype):
        abort(415, message=f"the body must be JSON (Content-Type: application/json), not "
                           f"{request.mimetype or 'untyped'}",
              errors={"headers": {"Content-Type": ["must be application/json"]}})


class JsonBodyParser(FlaskParser):
    """webargs' Flask parser, reading JSON bodies through ``json_body``."""

    def _raw_load_json(self, req: Request) -> Any:
        if not core.is_json(req.mimetype):
            return core.missing
        body = json_body()
        return core.missing if body is None else body


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with our body reader: every resource uses this one."""

    ARGUMENTS_PARSER = JsonBodyParser()
