"""Entry point for gunicorn: refuses to serve an un-migrated database or a bad config."""
from __future__ import annotations

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
        problem = f"cannot reach the database ({type(exc.orig or exc).__name__}); check database_url"
    if problem:
        runtime.close()
        _refuse(f"refusing to serve: {problem}")
    return app


app = build()
