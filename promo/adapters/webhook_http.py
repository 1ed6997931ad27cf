"""One webhook POST over HTTP(S), with the standard library (no new dependency).

Redirects are not followed: a 3xx is a failed attempt, so an endpoint cannot bounce our
signed requests to an address nobody registered. The answer's body is not read past a
few hundred bytes (kept for the delivery's last_error).
"""
from __future__ import annotations

import dataclasses
import http.client
import socket
import ssl
import urllib.error
import urllib.request

USER_AGENT = "promo-webhooks/1"
KEPT_BODY_BYTES = 200


@dataclasses.dataclass(frozen=True)
class PostResult:
    status_code: int | None   # None: no HTTP answer (refused, timed out, TLS error...)
    error: str | None         # None on a 2xx

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None   # urllib then raises HTTPError with the 3xx


_OPENER = urllib.request.build_opener(_NoRedirects())


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_seconds: float) -> PostResult:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        **headers, "Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        with _OPENER.open(request, timeout=timeout_seconds) as response:
            response.read(KEPT_BODY_BYTES)
            return PostResult(response.status, None)
    except urllib.error.HTTPError as exc:
        try:
            detail = exc.read(KEPT_BODY_BYTES).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            detail = ""
        return PostResult(exc.code, f"HTTP {exc.code}" + (f": {detail}" if detail else ""))
    except (urllib.error.URLError, OSError, http.client.HTTPException, ssl.SSLError, socket.timeout,
            ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return PostResult(None, f"{type(reason).__name__}: {reason}"[:500])
