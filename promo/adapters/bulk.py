"""Bulk inserts at driver speed, for the high-volume tables (interactions, stock events).

SQLAlchemy's per-row parameter processing costs more than the database's own work for
batches of thousands, so these go straight to the driver, with values already in the
form our column types store (UTCDateTime: naive UTC; on SQLite, ISO text).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import operator
from typing import Any, Iterator, Sequence

import psycopg

from sqlalchemy import Row, Select, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


@contextlib.contextmanager
def _as_sqlalchemy_errors(statement: str) -> Iterator[None]:
    """Raw psycopg calls raise what SQLAlchemy would have, so callers handle one kind
    (a unique-key race is retried by the stock use case, whichever path hit it)."""
    try:
        yield
    except psycopg.errors.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc


def naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def sqlite_time(value: dt.datetime | None) -> str | None:
    """A UTC datetime as SQLAlchemy's SQLite DateTime stores it (and reads it back): ISO
    8601 with a space and microseconds, the year always four digits (strftime's %Y is
    not zero-padded before year 1000 on every platform, and fromisoformat then refuses it)."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _picked(rows: Sequence[dict[str, Any]], columns: list[str]) -> list[tuple[Any, ...]]:
    """The rows as value tuples in ``columns`` order, picked by a C-level itemgetter."""
    pick = operator.itemgetter(*columns)
    return [pick(row) for row in rows] if len(columns) > 1 else [(row[columns[0]],) for row in rows]


def _times_as_text(values: Sequence[tuple[Any, ...]], columns: Sequence[str], times: frozenset[str]
                   ) -> Sequence[tuple[Any, ...]]:
    """The value tuples with their datetimes as SQLite stores them.

    Runs once per row of every bulk insert (inside the stock write lock, too), so each
    row is cut into slices around its time columns and put back together, and a batch's
    handful of distinct timestamps (recorded_at is always one) are formatted once each.
    """
    time_at = [i for i, column in enumerate(columns) if column in times]
    if not time_at:
        return values
    formatted: dict[dt.datetime | None, str | None] = {None: None}

    def text(value: dt.datetime | None) -> str | None:
        found = formatted.get(value, formatted)
        if found is formatted:
            found = formatted[value] = sqlite_time(value)
        return found  # type: ignore[return-value]

    between = [(start + 1, end) for start, end in zip([-1] + time_at, time_at + [len(columns)])]
    (first_start, first_end), rest = between[0], list(zip(time_at, between[1:]))
    converted: list[tuple[Any, ...]] = []
    for row in values:
        out = row[first_start:first_end]
        for at, (start, end) in rest:
            out += (text(row[at]),) + row[start:end]
        converted.append(out)
    return converted


def sqlite_insert(session: Session, table: str, rows: Sequence[dict[str, Any]], times: frozenset[str],
                  ignore_existing: bool = False) -> int:
    """INSERT (OR IGNORE) the rows; return how many were inserted."""
    if not rows:
        return 0
    columns = list(rows[0])
    return sqlite_insert_values(session, table, columns, _picked(rows, columns), times, ignore_existing)


def sqlite_insert_values(session: Session, table: str, columns: Sequence[str], values: Sequence[tuple[Any, ...]],
                         times: frozenset[str], ignore_existing: bool = False) -> int:
    """INSERT (OR IGNORE) value tuples in ``columns`` order; return how many were inserted."""
    if not values:
        return 0
    connection = session.connection()
    driver = connection.connection.driver_connection
    before = driver.total_changes
    verb = "INSERT OR IGNORE" if ignore_existing else "INSERT"
    connection.exec_driver_sql(
        f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        _times_as_text(values, columns, times))
    return driver.total_changes - before


def postgres_insert_new(session: Session, table: str, rows: Sequence[dict[str, Any]], times: frozenset[str],
                        key: str, column_types: dict[str, str]) -> int:
    """COPY into a session-local staging table, then one INSERT .. ON CONFLICT (key) DO
    NOTHING; return how many rows were new. Several times faster than multi-row INSERTs."""
    if not rows:
        return 0
    columns = list(rows[0])
    names = ", ".join(columns)
    staging = f"{table}_incoming"
    cursor = session.connection().connection.driver_connection.cursor()
    with _as_sqlalchemy_errors(f"INSERT INTO {table}"):
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ("
                       + ", ".join(f"{c} {column_types[c]}" for c in columns) + ") ON COMMIT DELETE ROWS")
        with cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(naive_utc(row[c]) if c in times else row[c] for c in columns))
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
                       f"ORDER BY {key} ON CONFLICT ({key}) DO NOTHING")
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {staging}")
    return inserted


def postgres_copy(session: Session, table: str, columns: Sequence[str], values: Sequence[tuple[Any, ...]],
                  times: frozenset[str]) -> None:
    """COPY value tuples (in ``columns`` order) straight into ``table`` (rows known to be new)."""
    if not values:
        return
    time_at = [i for i, column in enumerate(columns) if column in times]
    cursor = session.connection().connection.driver_connection.cursor()
    with _as_sqlalchemy_errors(f"COPY {table}"), cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in values:
            if time_at:
                row = list(row)
                for i in time_at:
                    row[i] = naive_utc(row[i])
            copy.write_row(row)


def sqlite_rows_where_in(session: Session, select_sql: str, column: str, values: Any) -> list[tuple[Any, ...]]:
    """``select_sql WHERE column IN values`` at driver speed on SQLite, in chunks under
    its limit on bound parameters (the statement must have no WHERE of its own)."""
    values = list(set(values))
    connection = session.connection()
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), 5000):
        chunk = values[start:start + 5000]
        rows += connection.exec_driver_sql(
            f"{select_sql} WHERE {column} IN ({', '.join('?' * len(chunk))})", tuple(chunk)).fetchall()
    return rows


def rows_where_in(session: Session, query: Select[Any], column: Any, values: Any) -> list[Row[Any]]:
    """``query`` restricted to ``column IN values``, for thousands of values: one array
    parameter on PostgreSQL (a long IN list costs more to send and parse than to run),
    chunks under SQLite's limit on bound parameters."""
    values = list(set(values))
    if not values:
        return []
    if session.get_bind().dialect.name == "postgresql":
        wanted = bindparam("wanted_values", values, type_=postgresql.ARRAY(column.type))
        return list(session.execute(query.where(column == any_(wanted))).all())
    rows: list[Row[Any]] = []
    for start in range(0, len(values), 5000):
        rows += session.execute(query.where(column.in_(values[start:start + 5000]))).all()
    return rows
