"""Entry point for gunicorn: refuses to serve an un-migrated database or a bad config.

A database that cannot be reached at start is not refused: the worker starts not ready
(/readyz says why) and catches up when the database answers. A worker restarted during
an outage must not stop the whole server, whose other workers still answer reads from
memory; a wrong database_url shows in /readyz and the log instead."""
from __future__ import annotations

import logging
import sys

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from promo import create_app
from promo.adapters.migrations import schema_problem
from promo.api.context import EXTENSION
from promo.config import ConfigError

# gunicorn stops altogether (rather than restarting the worker forever) when a worker
# exits with this code while booting.
WORKER_BOOT_ERROR = 3


def _refuse(message: str) -> None:
    print(f"promo: {message}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)


def build() -> Flask:
    try:
        app = create_app()
    except ConfigError as exc:
        _refuse(f"configuration error: {exc}")
    runtime = app.extensions[EXTENSION]
    try:
        problem = schema_problem(runtime.engine)
    except SQLAlchemyError as exc:
        logging.getLogger("promo.wsgi").warning(
            "cannot reach the database (%s); starting not ready until it answers (see /readyz; check "
            "database_url if it never does)", type(getattr(exc, "orig", None) or exc).__name__)
        problem = None
    if problem:
        runtime.close()
        _refuse(f"refusing to serve: {problem}")
    return app


app = build()
