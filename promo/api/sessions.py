"""Cookie sessions only where a person signs in: the API authenticates every request by
its key, so its requests (the channels' hot paths among them) skip opening a session."""
from __future__ import annotations

from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface

# Paths that never use a cookie session.
SESSIONLESS_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")


class KeyedApiSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> Any:
        if request.path.startswith(SESSIONLESS_PREFIXES):
            return self.make_null_session(app)
        return super().open_session(app, request)
