"""How a request body becomes data: one JSON reader for every endpoint, with limits.

Python's json module accepts what a service must not, or fails on it with errors no view
expects: nesting deep enough to exhaust the interpreter's stack, integers past the
interpreter's digit limit, numbers past a double (1e999 becomes infinity) and the
non-JSON constants NaN and Infinity, which PostgreSQL cannot store. This reader refuses
each of them with a 400 in the usual error shape (an integer that converts but is out of
a field's range is that field's 422). Every view reads its body through it: flask-smorest's
views through ``Blueprint``, the stock-event fast path through ``json_body``.
"""
from __future__ import annotations

import json
import math
import sys
from typing import Any

import flask_smorest
from flask import Request, g, request
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter

JSON_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyNotJson(ValueError):
    """The body is not JSON that this service reads; the message says why."""


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
        # Integers are left to json's own int(): a Python callback for each would cost
        # more than the parse; past the interpreter's digit limit int() refuses them.
        return json.loads(data, parse_float=_finite, parse_constant=_constant)
    except BodyNotJson:
        raise
    except RecursionError:
        raise BodyNotJson("nested too deeply") from None
    except ValueError as exc:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if "integer string conversion" in str(exc):
            raise BodyNotJson(f"an integer of more than {sys.get_int_max_str_digits()} digits") from None
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


WEB_PREFIX = "/app/"


def require_json_content_type() -> None:
    """before_request: a body sent to the API must say it is JSON (415 otherwise); the web
    app's forms (under /app) are form-encoded."""
    if request.path.startswith(WEB_PREFIX):
        return
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


class IdConverter(BaseConverter):
    """A client's id in a URL path (``<id:sku>``): only what ExternalId accepts can match,
    so a path holding a control character (which PostgreSQL could not even compare)
    matches no route and is a 404 before any query runs."""

    regex = r"[^/\x00-\x1f\x7f]+"


def id_parameter_schema(_converter: IdConverter) -> dict[str, Any]:
    """How /openapi.json describes an ``<id:...>`` path parameter."""
    return {"type": "string", "minLength": 1, "pattern": "^[^/\\x00-\\x1f\\x7f]+$"}


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with our body reader: every resource uses this one."""

    ARGUMENTS_PARSER = JsonBodyParser()
