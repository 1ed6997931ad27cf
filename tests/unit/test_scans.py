"""A scan runs through a small SQLite page cache and leaves the connection's own size."""
from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from promo.adapters.scans import SCAN_CACHE_KB, small_page_cache


def test_a_scan_runs_through_a_small_cache_and_the_connection_gets_its_size_back(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'scan.db'}")
    with Session(engine) as session:
        run = session.connection().exec_driver_sql
        run("PRAGMA cache_size=-16384")
        with small_page_cache(session):
            inside = run("PRAGMA cache_size").scalar()
        after = run("PRAGMA cache_size").scalar()
    assert (inside, after) == (-SCAN_CACHE_KB, -16384)
