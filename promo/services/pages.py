"""Keyset pagination shared by every list use case."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generic, Sequence, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # The key to continue after, or None on the last page.
    next_after: str | None


def page_of(rows: Sequence[Any], limit: int, key: Callable[[Any], str], view: Callable[[Any], T]) -> Page[T]:
    """Build a page from up to ``limit + 1`` rows (one extra tells whether more follow)."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[view(row) for row in rows], next_after=key(rows[-1]) if has_more and rows else None)
