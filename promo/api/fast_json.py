"""Answers of the channels' hot read paths (offers, deals, recommendations), serialised
straight to JSON bytes by orjson. The view still declares its response schema for the
API docs; the service builds exactly that shape, so nothing is lost by skipping
marshmallow's dump, which cost more than the offer ranking itself."""
from __future__ import annotations

from typing import Any

import orjson
from flask import Response

OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, option=OPTIONS), status=status, mimetype="application/json",
                    headers=headers)
