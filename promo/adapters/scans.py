"""Reads that scan much of a table, kept from filling the connection's page cache."""
from __future__ import annotations

import contextlib
from typing import Iterator

from sqlalchemy.orm import Session

SCAN_CACHE_KB = 2000


@contextlib.contextmanager
def small_page_cache(session: Session) -> Iterator[None]:
    """On SQLite, run the block through a 2 MB page cache, then shrink back to it: a scan
    at the usual size (sqlite_cache_mb) left the pooled connection's cache full of pages
    nothing else reads, for good, and each periodic scan that landed on another pooled
    connection filled that one too (bench/soak.py: workers grew in steps). PostgreSQL
    keeps its cache in the server: nothing to do."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    run = session.connection().exec_driver_sql
    size = run("PRAGMA cache_size").scalar()
    run(f"PRAGMA cache_size=-{SCAN_CACHE_KB}")
    try:
        yield
    finally:
        run(f"PRAGMA cache_size={int(size)}")
