"""Opaque, signed pagination cursors: clients pass back what they were given, nothing else."""
from __future__ import annotations

from typing import Any

from flask_smorest import abort
from itsdangerous import BadSignature, URLSafeSerializer

from promo.api.context import runtime
from promo.services.pages import Page


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(runtime().settings.secret_key, salt="promo.cursor")


def page_args(args: dict[str, Any], listing: str) -> tuple[str | None, int]:
    """(after, limit) from validated query args; ``listing`` binds a cursor to its endpoint."""
    settings = runtime().settings
    limit = args.get("limit", settings.default_page_size)
    if limit > settings.max_page_size:
        abort(422, message="invalid query", errors={"query": {"limit": [f"at most {settings.max_page_size}"]}})
    after = None
    if "cursor" in args:
        try:
            payload = _serializer().loads(args["cursor"])
        except BadSignature:
            payload = None
        if not isinstance(payload, dict) or payload.get("l") != listing:
            abort(422, message="invalid query", errors={"query": {"cursor": ["not a cursor this listing gave out"]}})
        after = payload["a"]
    return after, limit


def page_body(page: Page[Any], listing: str) -> dict[str, Any]:
    cursor = _serializer().dumps({"l": listing, "a": page.next_after}) if page.next_after is not None else None
    return {"items": page.items, "next_cursor": cursor}


def limit_batch(items: list[Any]) -> list[Any]:
    """Refuse a bulk body with more items than the configured maximum."""
    most = runtime().settings.max_batch_items
    if len(items) > most:
        abort(422, message="batch too large", errors={"json": {"_schema": [f"at most {most} items per request, got {len(items)}"]}})
    if not items:
        abort(422, message="empty batch", errors={"json": {"_schema": ["send at least one item"]}})
    return items
