"""Entry point for gunicorn: refuses to serve an un-migrated database or a bad config."""
from __future__ import annotations

import sys

from flask import Flask

from promo import create_app
from promo.adapters.migrations import schema_problem
from promo.api.context import EXTENSION
from promo.config import ConfigError


def build() -> Flask:
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"promo: configuration error: {exc}")
    problem = schema_problem(app.extensions[EXTENSION].engine)
    if problem:
        sys.exit(f"promo: refusing to serve: {problem}")
    return app


app = build()
