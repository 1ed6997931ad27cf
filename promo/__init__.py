"""promo: stock-aware promotion targeting and personalisation for retailers."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from promo.bootstrap import Runtime, bootstrap
from promo.config import load_settings

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The one place everything is wired: settings -> database -> API.

    ``config`` overrides single settings (tests use it); otherwise settings come from
    config/default.toml, PROMO_CONFIG and PROMO_* variables.
    """
    from promo.api import init_api
    from promo.api.context import EXTENSION
    from promo.observability import configure_logging, instrument

    settings = load_settings(config)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        TESTING=settings.env == "test",
    )
    runtime: Runtime = bootstrap(settings, follow_stock=True)
    app.extensions[EXTENSION] = runtime
    instrument(app)
    init_api(app)
    return app
