"""Every error leaves as JSON {code, status, message, errors} (plus reason on 409).

Domain exceptions are mapped to HTTP statuses here and nowhere else. Unexpected
exceptions are logged with the request id and answered with a bare 500: no stack trace
ever reaches a client.
"""
from __future__ import annotations

import logging
from typing import Any

import flask_smorest
from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from promo.adapters.database import DATABASE_DOWN
from promo.api.schemas import ErrorSchema
from promo.domain.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    PromoError,
    TooManyRequests,
    Unavailable,
)

log = logging.getLogger("promo.api")

DATABASE_UNAVAILABLE = "database_unavailable"

STATUS_OF: list[tuple[type[PromoError], int]] = [
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (AuthenticationFailed, 401),
    (PermissionDenied, 403),
    (Unavailable, 503),
    (TooManyRequests, 429),
]


def error_body(status: int, name: str, message: str, errors: Any = None, **extra: Any) -> dict[str, Any]:
    return {"code": status, "status": name, "message": message, "errors": errors or {}, **extra}


class PromoApi(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error: HTTPException):  # type: ignore[no-untyped-def]
        data = getattr(error, "data", None) or {}
        errors = data.get("errors", data.get("messages"))
        message = data.get("message") or _routing_message(error) or error.description or error.name
        body = error_body(error.code or 500, error.name, message, errors)
        if isinstance(data.get("reason"), str):
            body["reason"] = data["reason"]
        headers = dict(data.get("headers") or {})
        if error.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="promo"'
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return jsonify(body), error.code, headers


def _routing_message(error: HTTPException) -> str | None:
    """Say what was asked and where the routes are, when no route matched."""
    if request.url_rule is not None:
        return None
    if error.code == 404:
        return f"no endpoint {request.method} {request.path}; every endpoint is listed at /docs and /openapi.json"
    if error.code == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or ()))
        return f"{request.method} is not allowed on {request.path} (allowed: {allowed})"
    return None


def register_error_handlers(app: Flask, api: PromoApi) -> None:
    def handle_domain_error(error: PromoError):  # type: ignore[no-untyped-def]
        status = next(code for kind, code in STATUS_OF if isinstance(error, kind))
        extra: dict[str, Any] = {}
        errors: Any = None
        if isinstance(error, InvalidInput):
            # Where the input came from, as the schemas report it: reads take query parameters.
            errors = {"query" if request.method in ("GET", "HEAD") else "json": error.errors}
        if isinstance(error, (Conflict, Unavailable, TooManyRequests)):
            extra["reason"] = error.reason
        if getattr(error, "details", None) is not None:
            extra["details"] = error.details  # type: ignore[attr-defined]
        name = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
                422: "Unprocessable Entity", 429: "Too Many Requests", 503: "Service Unavailable"}[status]
        headers = {"WWW-Authenticate": 'Bearer realm="promo"'} if status == 401 else {}
        if status == 503:
            headers["Retry-After"] = "1"
        if isinstance(error, TooManyRequests):
            headers["Retry-After"] = str(error.retry_after)
        return jsonify(error_body(status, name, error.message, errors, **extra)), status, headers

    def handle_unexpected(error: Exception):  # type: ignore[no-untyped-def]
        if isinstance(error, HTTPException):
            return api.handle_http_exception(error)
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return api.handle_http_exception(InternalServerError(
            description="internal error; quote the X-Request-Id header when reporting it"))

    def handle_database_unavailable(error: Exception):  # type: ignore[no-untyped-def]
        # Connection refused or lost, pool exhausted, SQLite busy past its timeout: nothing
        # was written (the transaction could not commit), and trying again soon may work.
        log.warning("database unavailable: %s", str(error).splitlines()[0][:300] if str(error) else type(error).__name__,
                    extra={"request_id": g.get("request_id")})
        body = error_body(503, "Service Unavailable", "the database is unavailable; nothing was written. What is "
                          "served from memory (stock, availability, offers, deals) still answers. Retry in a "
                          "moment.", reason=DATABASE_UNAVAILABLE)
        return jsonify(body), 503, {"Retry-After": "2"}

    app.register_error_handler(PromoError, handle_domain_error)
    for kind in DATABASE_DOWN:
        app.register_error_handler(kind, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
