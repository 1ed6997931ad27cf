"""Log records as JSON lines.

Its own module, importing nothing of promo's: gunicorn's master loads this formatter from
its config, and must not import the metrics (promo/observability.py does), or it would
count as one more process in /metrics.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import orjson

_STANDARD_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given to the logger are included."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # orjson: one line per request is written, and the standard encoder cost more than
        # the rest of the record's handling.
        try:
            return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:   # what orjson refuses (an integer past 64 bits): the slow way
            return json.dumps(entry, default=str)
