"""JSON logs with a request id, and Prometheus metrics per endpoint and status.

Under gunicorn every worker counts for itself; with PROMETHEUS_MULTIPROC_DIR set (the
gunicorn config sets it) /metrics adds up the counts of all workers.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import REGISTRY, multiprocess

from promo.ids import random_hex
from promo.json_logs import JsonFormatter
from promo.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

def configure_logging(level: str) -> None:
    logging.Formatter.converter = time.gmtime
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Alembic logs at INFO whenever a migration context is opened (every /readyz asks the
    # schema's revision) and when its plugins load (every worker start): routine, so
    # only its warnings are shown unless the service itself logs at DEBUG.
    logging.getLogger("alembic").setLevel(logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING)


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


WORKER_HEADER = "X-Promo-Worker"


def instrument(app: Flask, *, expose_worker_id: bool = False) -> None:
    """Give every request an id, and log and count it when it is answered; with
    ``expose_worker_id``, name the worker process that answered (tests and benchmarks
    that must see every worker answer)."""
    log = logging.getLogger("promo.request")

    @app.before_request
    def _start() -> None:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _CLIENT_REQUEST_ID.match(given) else random_hex()
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        HTTP_LATENCY.labels(request.method, endpoint).observe(elapsed)
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        if expose_worker_id:
            response.headers[WORKER_HEADER] = str(os.getpid())
        log.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method, "path": request.path,
            "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
            "api_key": g.get("api_key_name"),
        })
        return response
