"""The stock log's rows as every reader sees them, and how they are read back defensively.

A log row travels by name (``LogRow``), never by position, so a column added to the log
cannot silently shift what a reader takes. Rows are read back through ``read_log_rows``,
which never raises: a row whose values cannot be read (a time that does not parse, a
number that is not an integer, written by an older version or by hand) still has its
position deltas applied where they are numbers, so the view keeps agreeing with the
positions table, and it is reported with its sequence number instead of stopping the
reader.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from typing import Any, Iterable, NamedTuple, Sequence


class LogRow(NamedTuple):
    """What a follower needs of one logged event."""

    seq: int
    product_id: int
    location_id: int
    type: str
    quantity: int
    reservation_id: str | None
    expires_at: dt.datetime | None
    eta: dt.datetime | None
    refusal: str | None             # None when applied
    delta_on_hand: int
    delta_reserved: int
    delta_safety_stock: int
    delta_inbound: int
    inbound_id: str | None
    event_id: str


class EventRow(NamedTuple("_EventColumns", [*LogRow.__annotations__.items(), ("reason", "str | None"),
                                             ("occurred_at", "dt.datetime"), ("recorded_at", "dt.datetime"),
                                             ("anomaly", "bool")])):
    """A log row as the write path builds it: what followers read (a LogRow's fields,
    first), then the rest."""

    __slots__ = ()

    def as_logged(self) -> LogRow:
        """The row as a follower reads it back from the database (UTC times)."""
        row = LogRow._make(self[:len(LogRow._fields)])
        if row.expires_at is None and row.eta is None:
            return row
        return row._replace(expires_at=_as_utc(row.expires_at), eta=_as_utc(row.eta))


LOG_COLUMNS: tuple[str, ...] = LogRow._fields
EVENT_COLUMNS: tuple[str, ...] = EventRow._fields
# The row a reader hands on in place of one it cannot read: no per-item state (no
# reservation, no inbound) is followed for it, only its position deltas.
UNREADABLE_TYPE = "unreadable"
_TIMES = ("expires_at", "eta")
_INTEGERS = ("seq", "product_id", "location_id", "quantity", "delta_on_hand", "delta_reserved",
             "delta_safety_stock", "delta_inbound")
_DELTAS = ("delta_on_hand", "delta_reserved", "delta_safety_stock", "delta_inbound")
_INT64 = 2**63 - 1
_SEQ, _PRODUCT, _LOCATION, _QUANTITY, _ON_HAND, _RESERVED, _SAFETY, _INBOUND = (
    LOG_COLUMNS.index(name) for name in _INTEGERS)
_EXPIRES_AT, _ETA = (LOG_COLUMNS.index(name) for name in _TIMES)
# A LogRow from a driver's tuple without the named tuple's Python-level constructor: the
# writer reads the other workers' rows this way inside the write lock.
_log_row = functools.partial(tuple.__new__, LogRow)


def _all_int_types(v: Sequence[Any]) -> bool:
    """Whether every integer column holds an int (one chained test: it runs per row)."""
    return (int is type(v[_SEQ]) is type(v[_PRODUCT]) is type(v[_LOCATION]) is type(v[_QUANTITY])
            is type(v[_ON_HAND]) is type(v[_RESERVED]) is type(v[_SAFETY]) is type(v[_INBOUND]))


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.timezone.utc)


# --- times as stored -----------------------------------------------------------------------

def read_stored_time(value: Any) -> dt.datetime | None:
    """A stored UTC time (naive datetime, or ISO text on SQLite) as an aware datetime;
    ValueError when it is neither."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"not a time: {value!r}"[:200])
    return value.replace(tzinfo=dt.timezone.utc)


# --- reading rows back ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Unreadable:
    """A logged event a reader could not take as it is."""

    seq: Any
    event_id: Any
    problem: str
    deltas_applied: bool      # its position deltas were numbers and were applied

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "event_id": self.event_id, "problem": self.problem,
                "deltas_applied": self.deltas_applied}


def read_log_rows(raw: Iterable[Sequence[Any]]) -> tuple[list[LogRow], list[Unreadable]]:
    """Database rows (LOG_COLUMNS order) as LogRows, one for each, and what could not be read.

    The common row (integers, no times) costs one tuple build. A row with a value that
    cannot be read comes back as an ``UNREADABLE_TYPE`` row that carries only its
    position deltas (zero where they are not integers, as SQL's SUM counts text), so the
    sequence stays gapless and the view keeps agreeing with the positions table; it is
    reported too.
    """
    rows: list[LogRow] = []
    problems: list[Unreadable] = []
    for values in raw:
        if values[_EXPIRES_AT] is None and values[_ETA] is None and _all_int_types(values):
            rows.append(_log_row(values))
            continue
        row, problem = _read_one(values)
        rows.append(row)
        if problem is not None:
            problems.append(problem)
    return rows, problems


def _read_one(values: Sequence[Any]) -> tuple[LogRow, Unreadable | None]:
    named = dict(zip(LOG_COLUMNS, values))
    wrong = [f"{name}: not an integer ({named[name]!r})"[:200] for name in _INTEGERS
             if not _is_int64(named[name])]
    for name in _TIMES:
        try:
            named[name] = read_stored_time(named[name])
        except (ValueError, TypeError, OverflowError) as exc:
            wrong.append(f"{name}: {exc}"[:200])
            named[name] = None
    if not wrong:
        return LogRow(**named), None
    # Deltas count only where they are numbers for a position that can be named.
    placed = all(_is_int64(named[name]) for name in ("product_id", "location_id", *_DELTAS))
    applied = named["refusal"] is None and placed
    row = LogRow(*(named[name] if _is_int64(named[name]) else 0 for name in ("seq", "product_id", "location_id")),
                 UNREADABLE_TYPE, 0, None, None, None, named["refusal"],
                 *(named[name] if applied else 0 for name in _DELTAS), None, str(named["event_id"]))
    return row, Unreadable(named["seq"], named["event_id"], "; ".join(wrong), deltas_applied=applied)


def _is_int64(value: Any) -> bool:
    return type(value) is int and -_INT64 <= value <= _INT64
