"""promo: stock-aware promotion targeting and personalisation for retailers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from flask import Flask

# Nothing heavy here: `import promo` happens for every `promo` command, `--help` included,
# and Flask, pandas and scikit-learn are imported by create_app() and the commands that
# need them (bench/cli_startup.py measures it).

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The one place everything is wired: settings -> database -> API.

    ``config`` overrides single settings (tests use it); otherwise settings come from
    config/default.toml, PROMO_CONFIG and PROMO_* variables.
    """
    from flask import Flask

    from promo.api import init_api
    from promo.api.context import EXTENSION
    from promo.api.sessions import KeyedApiSessionInterface
    from promo.bootstrap import bootstrap
    from promo.config import load_settings
    from promo.observability import configure_logging, instrument
    from promo.web import init_web

    settings = load_settings(config)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        TESTING=settings.env == "test",
    )
    app.session_interface = KeyedApiSessionInterface()
    runtime = bootstrap(settings, follow_stock=True)
    app.extensions[EXTENSION] = runtime
    instrument(app, expose_worker_id=bool(settings.expose_worker_id))
    init_api(app)
    init_web(app, settings)
    return app
