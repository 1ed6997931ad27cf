"""The marketing web app, served by promo itself under /app: server-rendered pages for
people, who sign in with a staff account (machines use API keys under /v1).

Sessions are Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS,
expiring ``web_session_hours`` after the last request) managed by Flask-Login; every form
carries a CSRF token checked by Flask-WTF; failed sign-ins are limited per account and
per client address. The pages call the same services as the API.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from promo.web import campaign_views  # noqa: F401  (its routes join the blueprint)
from promo.web.people import SignedIn, load_signed_in
from promo.web.views import blueprint

if TYPE_CHECKING:
    from flask import Flask

    from promo.config import Settings

csrf = CSRFProtect()


def init_web(app: "Flask", settings: "Settings") -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.web_secure_cookies),
        SESSION_COOKIE_NAME="promo_session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=settings.web_session_hours),
        # Forms are checked where the web app's views are (promo.web.views), not on the
        # API, whose requests carry a key and no cookie.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,           # the token lives as long as the session
    )
    csrf.init_app(app)
    login = LoginManager()
    login.init_app(app)
    login.login_view = "web.sign_in"
    login.login_message = None
    login.session_protection = "strong"
    login.user_loader(load_signed_in)
    app.register_blueprint(blueprint)


__all__ = ["SignedIn", "csrf", "init_web"]
