"""TEMPORARY: replaced by the webhook outbox when it lands."""
from __future__ import annotations

from typing import Any


def enqueue(uow: Any, event_type: str, payload: dict[str, Any]) -> str:
    return ""
