"""Bulk inserts at driver speed, for the high-volume tables (interactions, stock events).

SQLAlchemy's per-row parameter processing costs more than the database's own work for
batches of thousands, so these go straight to the driver, with values already in the
form our column types store (UTCDateTime: naive UTC; on SQLite, ISO text).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from sqlalchemy.orm import Session


def naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def sqlite_time(value: dt.datetime | None) -> str | None:
    """A UTC datetime as SQLAlchemy's SQLite DateTime stores it (and reads it back)."""
    return None if value is None else value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _times_as_text(rows: Sequence[dict[str, Any]], columns: list[str], times: frozenset[str]) -> list[tuple[Any, ...]]:
    # A batch mostly shares a handful of timestamps (recorded_at always): format each once.
    formatted: dict[dt.datetime, str | None] = {}

    def text(value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        found = formatted.get(value)
        if found is None:
            found = formatted[value] = sqlite_time(value)
        return found

    time_at = [c in times for c in columns]
    return [tuple(text(row[c]) if is_time else row[c] for c, is_time in zip(columns, time_at)) for row in rows]


def sqlite_insert(session: Session, table: str, rows: Sequence[dict[str, Any]], times: frozenset[str],
                  ignore_existing: bool = False) -> int:
    """INSERT (OR IGNORE) the rows; return how many were inserted."""
    if not rows:
        return 0
    columns = list(rows[0])
    connection = session.connection()
    driver = connection.connection.driver_connection
    before = driver.total_changes
    verb = "INSERT OR IGNORE" if ignore_existing else "INSERT"
    connection.exec_driver_sql(
        f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        _times_as_text(rows, columns, times))
    return driver.total_changes - before


def postgres_insert_new(session: Session, table: str, rows: Sequence[dict[str, Any]], times: frozenset[str],
                        key: str, column_types: dict[str, str]) -> int:
    """COPY into a session-local staging table, then one INSERT .. ON CONFLICT (key) DO
    NOTHING; return how many rows were new. Several times faster than multi-row INSERTs."""
    if not rows:
        return 0
    columns = list(rows[0])
    staging = f"{table}_incoming"
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ("
                   + ", ".join(f"{c} {column_types[c]}" for c in columns) + ") ON COMMIT DELETE ROWS")
    with cursor.copy(f"COPY {staging} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(naive_utc(row[c]) if c in times else row[c] for c in columns))
    cursor.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {staging} "
                   f"ORDER BY {key} ON CONFLICT ({key}) DO NOTHING")
    inserted = cursor.rowcount
    cursor.execute(f"TRUNCATE {staging}")
    return inserted
