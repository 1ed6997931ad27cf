"""How the background loops (serving refresh, campaign watch, webhooks, exposures, model
checks) report a failed round. They retry at the next one either way; what differs is what
the log is told. The database away is expected to happen and to pass: one line, at most
once every OUTAGE_LOG_SECONDS per loop, so an outage does not bury the log under a
traceback every tenth of a second. Anything else is a bug or a bad row: the whole
traceback, every time."""
from __future__ import annotations

import logging
import threading
import time

from promo.adapters.database import DATABASE_DOWN

OUTAGE_LOG_SECONDS = 30.0
_last_warned: dict[str, float] = {}
_lock = threading.Lock()


def log_failure(log: logging.Logger, message: str, error: BaseException, **extra: object) -> None:
    if not isinstance(error, DATABASE_DOWN):
        log.exception(message, extra=extra or None)
        return
    now = time.monotonic()
    with _lock:
        if now - _last_warned.get(message, -OUTAGE_LOG_SECONDS) < OUTAGE_LOG_SECONDS:
            return
        _last_warned[message] = now
    first_line = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
    log.warning("%s: the database is unavailable (%s); said at most every %.0f s until it is back",
                message, first_line, OUTAGE_LOG_SECONDS, extra=extra or None)
