"""Stock persistence: the event log, the positions snapshot, reservations and inbound.

Statements are written once for both databases where they can be; PostgreSQL gets
array parameters (unnest) and COPY where a long parameter list would cost more to send
and parse than to execute.
"""
from __future__ import annotations

import datetime as dt
import itertools
import logging
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from promo.adapters.bulk import postgres_copy, rows_where_in, sqlite_insert, sqlite_insert_values, sqlite_rows_where_in
from promo.adapters.orm import APPLIED_SALES, StockEvent, StockInbound, StockPosition, StockReservation, StockSequence
from promo.adapters.stock_log import EVENT_COLUMNS, LOG_COLUMNS, LogRow, Unreadable, read_log_rows, read_stored_time
from promo.domain.stock import Inbound, Position, Reservation

log = logging.getLogger("promo.stock")

PositionKey = tuple[int, int]  # (product_id, location_id)
NOTIFY_CHANNEL = "promo_stock"


def _time_or_none(value: Any, what: str) -> dt.datetime | None:
    """A stored time beside the log (a reservation's expiry, an inbound's ETA), or None
    with a warning when it cannot be read: the hold or the receipt still counts, only
    its time is unknown."""
    try:
        return read_stored_time(value)
    except (ValueError, TypeError, OverflowError):
        log.warning("unreadable stored time for %s: %r; taken as none", what, value)
        return None


_EVENT_TIMES = frozenset({"expires_at", "eta", "occurred_at", "recorded_at"})

# Sums of the deltas per position over the log rows after positions_seq: what the
# positions table does not hold yet. Refused events carry zero deltas but still count as
# touching their position, as the write path's zero rows do.
TRAILING_DELTAS = (
    "SELECT product_id, location_id, SUM(delta_on_hand), SUM(delta_reserved), SUM(delta_safety_stock), "
    "SUM(delta_inbound), COALESCE(MAX(CASE WHEN refusal IS NULL THEN seq END), 0) FROM stock_events "
    "WHERE seq > (SELECT positions_seq FROM stock_sequence WHERE id = 1) GROUP BY product_id, location_id")
# Adds them to the table, in key order (the caller then moves positions_seq to the head).
BRING_FORWARD = (
    "INSERT INTO stock_positions (product_id, location_id, on_hand, reserved, safety_stock, inbound, last_seq) "
    f"{TRAILING_DELTAS} ORDER BY product_id, location_id ON CONFLICT (product_id, location_id) DO UPDATE SET "
    "on_hand = stock_positions.on_hand + excluded.on_hand, reserved = stock_positions.reserved + excluded.reserved, "
    "safety_stock = stock_positions.safety_stock + excluded.safety_stock, "
    "inbound = stock_positions.inbound + excluded.inbound, "
    "last_seq = CASE WHEN excluded.last_seq > stock_positions.last_seq THEN excluded.last_seq "
    "ELSE stock_positions.last_seq END")


class StockRepository:
    def __init__(self, session: Session):
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    # --- the write path -----------------------------------------------------------------

    def lock_positions(self, keys: Iterable[PositionKey]) -> dict[PositionKey, Position]:
        """The positions for ``keys``, created at zero if new, locked until commit.

        On PostgreSQL rows are locked with FOR UPDATE in (product, location) order, the
        same order for every writer, so two batches cannot deadlock. On SQLite the whole
        database is already locked by BEGIN IMMEDIATE.
        """
        keys = sorted(set(keys))
        if not keys:
            return {}
        products = [k[0] for k in keys]
        locations = [k[1] for k in keys]
        if self.postgres:
            params = {"p": products, "l": locations}
            self.session.execute(text(
                "INSERT INTO stock_positions (product_id, location_id, on_hand, reserved, safety_stock, inbound, last_seq) "
                "SELECT k.p, k.l, 0, 0, 0, 0, 0 FROM unnest(CAST(:p AS integer[]), CAST(:l AS integer[])) AS k(p, l) "
                "ORDER BY k.p, k.l ON CONFLICT DO NOTHING"), params)
            rows = self.session.execute(text(
                "SELECT s.product_id, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.inbound "
                "FROM stock_positions s JOIN unnest(CAST(:p AS integer[]), CAST(:l AS integer[])) AS k(p, l) "
                "ON s.product_id = k.p AND s.location_id = k.l ORDER BY s.product_id, s.location_id "
                "FOR UPDATE OF s"), params).all()
        else:
            # A keyed temporary table to join with: SQLite plans a long (product, location)
            # IN list as a scan of the whole table.
            connection = self.session.connection()
            pairs = list(zip(products, locations))
            connection.exec_driver_sql(
                "CREATE TEMP TABLE IF NOT EXISTS wanted_positions (product_id INTEGER, location_id INTEGER, "
                "PRIMARY KEY (product_id, location_id)) WITHOUT ROWID")
            connection.exec_driver_sql("DELETE FROM wanted_positions")
            connection.exec_driver_sql("INSERT INTO wanted_positions VALUES (?, ?)", pairs)
            connection.exec_driver_sql(
                "INSERT OR IGNORE INTO stock_positions (product_id, location_id, on_hand, reserved, safety_stock, "
                "inbound, last_seq) SELECT product_id, location_id, 0, 0, 0, 0, 0 FROM wanted_positions")
            rows = connection.exec_driver_sql(
                "SELECT s.product_id, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.inbound "
                "FROM wanted_positions w JOIN stock_positions s "
                "ON s.product_id = w.product_id AND s.location_id = w.location_id").fetchall()
        return {(r[0], r[1]): Position(on_hand=r[2], reserved=r[3], safety_stock=r[4], inbound=r[5]) for r in rows}

    def logged_outcomes(self, event_ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
        """(seq, refusal) of the events already in the log, by event_id."""
        if self.postgres:
            query = select(StockEvent.event_id, StockEvent.seq, StockEvent.refusal)
            rows = rows_where_in(self.session, query, StockEvent.event_id, event_ids)
        else:
            rows = sqlite_rows_where_in(self.session, "SELECT event_id, seq, refusal FROM stock_events",
                                        "event_id", event_ids)
        return {event_id: (seq, refusal) for event_id, seq, refusal in rows}

    _RESERVATION_COLUMNS = ("reservation_id", "product_id", "location_id", "quantity", "expires_at", "state")

    def reservations(self, reservation_ids: Iterable[str]) -> dict[str, Reservation]:
        """The reservations with these ids (on PostgreSQL locked until commit)."""
        ids = sorted(set(reservation_ids))
        if not ids:
            return {}
        if self.postgres:
            table = StockReservation.__table__
            rows = self.session.execute(
                select(*(table.c[name] for name in self._RESERVATION_COLUMNS))
                .where(table.c.reservation_id.in_(ids)).order_by(table.c.reservation_id).with_for_update()).all()
        else:
            rows = sqlite_rows_where_in(
                self.session, f"SELECT {', '.join(self._RESERVATION_COLUMNS)} FROM stock_reservations",
                "reservation_id", ids)
        return {r[0]: Reservation(r[0], r[1], r[2], r[3], _time_or_none(r[4], f"reservation {r[0]!r}"), r[5])
                for r in rows}

    def expired_reserved(self, keys: Iterable[PositionKey], now: dt.datetime) -> dict[PositionKey, int]:
        """Per position, the quantity held by open reservations that have expired."""
        keys = sorted(set(keys))
        if not keys:
            return {}
        query = select(StockReservation.product_id, StockReservation.location_id, StockReservation.quantity) \
            .where(StockReservation.state == "open", StockReservation.expires_at <= now)
        totals: dict[PositionKey, int] = {}
        wanted = set(keys)
        for product_id, location_id, quantity in rows_where_in(
                self.session, query, StockReservation.product_id, {k[0] for k in keys}):
            if (product_id, location_id) in wanted:
                totals[(product_id, location_id)] = totals.get((product_id, location_id), 0) + quantity
        return totals

    def allocate_seqs(self, count: int, *, positions_written: bool) -> int:
        """Reserve ``count`` sequence numbers; return the first. Holds the counter's lock
        until commit, which is what keeps the sequence gapless and in commit order.

        ``positions_written``: this transaction writes its positions to the table, which
        was current when it started, so the table stays complete up to the new head.
        """
        if self.postgres:
            values: dict[str, Any] = {"last_seq": StockSequence.last_seq + count}
            if positions_written:
                values["positions_seq"] = StockSequence.last_seq + count
            last = self.session.execute(
                update(StockSequence).where(StockSequence.id == 1)
                .values(**values).returning(StockSequence.last_seq)).scalar_one()
        else:   # at driver level: it runs inside the write lock, once a batch
            also = ", positions_seq = last_seq + ?" if positions_written else ""
            last = self.session.connection().exec_driver_sql(
                f"UPDATE stock_sequence SET last_seq = last_seq + ?{also} WHERE id = 1 RETURNING last_seq",
                (count, count) if positions_written else (count,)).scalar_one()
        return last - count + 1

    def sequence_heads(self) -> tuple[int, int]:
        """(last_seq, positions_seq): the log's head and how far the positions table holds it."""
        row = self.session.connection().exec_driver_sql(
            "SELECT last_seq, positions_seq FROM stock_sequence WHERE id = 1").one()
        return row[0], row[1]

    def bring_positions_forward(self, min_lag: int = 1) -> int:
        """Add the log's trailing events to the positions table, if it trails the head by
        ``min_lag`` events or more, in one statement; return how many events it added.

        Run it in a write transaction that owns the log's head: inside SQLite's write lock,
        or on PostgreSQL with the sequence row locked here (where the table never trails).
        """
        if self.postgres:
            self.session.execute(select(StockSequence.id).where(StockSequence.id == 1).with_for_update())
        head, positions_seq = self.sequence_heads()
        lag = head - positions_seq
        if lag <= 0 or lag < min_lag:
            return 0
        self.session.execute(text(BRING_FORWARD))
        self.session.execute(update(StockSequence).where(StockSequence.id == 1).values(positions_seq=head))
        return lag

    def trailing_deltas(self) -> np.ndarray:
        """The log's trailing events summed per position, as int64 rows of (product_id,
        location_id, on_hand, reserved, safety_stock, inbound)."""
        rows = self.session.connection().exec_driver_sql(TRAILING_DELTAS).fetchall()
        return np.array([row[:6] for row in rows], dtype=np.int64).reshape(-1, 6)

    def append_events(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Append log rows given as tuples in EVENT_COLUMNS order."""
        if not rows:
            return
        if self.postgres:
            postgres_copy(self.session, "stock_events", EVENT_COLUMNS, rows, _EVENT_TIMES)
        else:
            sqlite_insert_values(self.session, "stock_events", EVENT_COLUMNS, rows, _EVENT_TIMES)

    def save_positions(self, positions: dict[PositionKey, Position], last_seq: dict[PositionKey, int]) -> None:
        if not positions:
            return
        keys = sorted(positions)
        if self.postgres:
            columns = {"p": [], "l": [], "o": [], "r": [], "s": [], "i": [], "q": []}
            for key in keys:
                pos = positions[key]
                for name, value in zip("plorsiq", (key[0], key[1], pos.on_hand, pos.reserved, pos.safety_stock,
                                                    pos.inbound, last_seq[key])):
                    columns[name].append(value)
            self.session.execute(text(
                "UPDATE stock_positions AS s SET on_hand = k.o, reserved = k.r, safety_stock = k.s, inbound = k.i, "
                "last_seq = k.q FROM unnest(CAST(:p AS integer[]), CAST(:l AS integer[]), CAST(:o AS integer[]), "
                "CAST(:r AS integer[]), CAST(:s AS integer[]), CAST(:i AS integer[]), CAST(:q AS bigint[])) "
                "AS k(p, l, o, r, s, i, q) WHERE s.product_id = k.p AND s.location_id = k.l"), columns)
            return
        self.session.connection().exec_driver_sql(
            "UPDATE stock_positions SET on_hand = ?, reserved = ?, safety_stock = ?, inbound = ?, last_seq = ? "
            "WHERE product_id = ? AND location_id = ?",
            [(p.on_hand, p.reserved, p.safety_stock, p.inbound, last_seq[k], k[0], k[1])
             for k in keys for p in (positions[k],)])

    def add_reservations(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.postgres:
            self.session.execute(StockReservation.__table__.insert(), list(rows))
        else:
            sqlite_insert(self.session, "stock_reservations", rows, frozenset({"expires_at"}))

    def close_reservations(self, closed: Sequence[tuple[str, str, int]]) -> None:
        """(reservation_id, new state, seq) for each reservation released or consumed."""
        if not closed:
            return
        if self.postgres:
            self.session.execute(text(
                "UPDATE stock_reservations SET state = :state, closed_seq = :seq WHERE reservation_id = :rid"),
                [{"rid": rid, "state": state, "seq": seq} for rid, state, seq in closed])
        else:
            self.session.connection().exec_driver_sql(
                "UPDATE stock_reservations SET state = ?, closed_seq = ? WHERE reservation_id = ?",
                [(state, seq, rid) for rid, state, seq in closed])

    def inbounds(self, inbound_ids: Iterable[str]) -> dict[str, Inbound]:
        ids = sorted(set(inbound_ids))
        if not ids:
            return {}
        query = select(StockInbound).where(StockInbound.inbound_id.in_(ids)).order_by(StockInbound.inbound_id)
        if self.postgres:
            query = query.with_for_update()
        return {r.inbound_id: Inbound(r.inbound_id, r.product_id, r.location_id, r.quantity, r.received, r.eta)
                for r in self.session.scalars(query)}

    def save_inbound(self, inbound: Inbound, seq: int) -> None:
        """Write an inbound as it now stands (inserted with ``seq`` the first time)."""
        changed = self.session.execute(
            update(StockInbound).where(StockInbound.inbound_id == inbound.inbound_id)
            .values(quantity=inbound.quantity, received=inbound.received, eta=inbound.eta)).rowcount
        if not changed:
            self.session.execute(StockInbound.__table__.insert().values(
                seq=seq, inbound_id=inbound.inbound_id, product_id=inbound.product_id,
                location_id=inbound.location_id, quantity=inbound.quantity, received=inbound.received,
                eta=inbound.eta))

    def consume_inbound(self, key: PositionKey, quantity: int) -> dict[str, int]:
        """An unnamed receipt counts against the position's pending inbound, earliest ETA
        first, equal ETAs by inbound id (the view follows the same rule). Returns what each inbound received, by id."""
        remaining = quantity
        received: dict[str, int] = {}
        rows = self.session.execute(
            select(StockInbound.seq, StockInbound.inbound_id, StockInbound.quantity - StockInbound.received)
            .where(StockInbound.product_id == key[0], StockInbound.location_id == key[1],
                   StockInbound.quantity > StockInbound.received, StockInbound.eta.is_not(None))
            .order_by(StockInbound.eta, StockInbound.inbound_id)).all()
        for seq, inbound_id, pending in rows:
            if remaining <= 0:
                break
            used = min(pending, remaining)
            self.session.execute(update(StockInbound).where(StockInbound.seq == seq)
                                 .values(received=StockInbound.received + used))
            received[inbound_id] = used
            remaining -= used
        return received

    def notify(self, last_seq: int) -> None:
        """Wake the other processes' views (PostgreSQL delivers it at commit)."""
        if self.postgres:
            self.session.execute(text("SELECT pg_notify(:channel, :payload)"),
                                 {"channel": NOTIFY_CHANNEL, "payload": str(last_seq)})

    # --- the read path ------------------------------------------------------------------

    def event_id_at(self, seq: int) -> str | None:
        """The event_id logged at ``seq``: what a follower checks to know its log is the
        same log, not one that was replaced and refilled past its sequence number."""
        if not seq:
            return None
        return self.session.connection().exec_driver_sql(
            f"SELECT event_id FROM stock_events WHERE seq = {'%s' if self.postgres else '?'}", (seq,)).scalar()

    def last_seq(self) -> int:
        return self.session.connection().exec_driver_sql(
            "SELECT last_seq FROM stock_sequence WHERE id = 1").scalar() or 0

    def events_after(self, seq: int, limit: int) -> tuple[list[LogRow], list[Unreadable]]:
        """Logged events after ``seq``, read at driver speed (every process reads every
        batch, so this is the view's hottest query), and those that could not be read
        as they are (see stock_log.read_log_rows: they never stop the reader)."""
        placeholder = "%s" if self.postgres else "?"
        cursor = self.session.connection().connection.driver_connection.cursor()
        cursor.execute(f"SELECT {', '.join(LOG_COLUMNS)} FROM stock_events WHERE seq > {placeholder} "
                       f"ORDER BY seq LIMIT {placeholder}", (seq, limit))
        return read_log_rows(cursor.fetchall())

    def unreadable_events(self, chunk: int = 50_000) -> tuple[int, list[Unreadable]]:
        """(how many, the first hundred) logged events a follower could not read as they
        are: the whole log read as followers read it."""
        count, found, after = 0, [], 0
        while True:
            rows, problems = self.events_after(after, chunk)
            count += len(problems)
            found += problems[:100 - len(found)]
            if len(rows) < chunk:
                return count, found
            after = rows[-1].seq

    SNAPSHOT_COLUMNS = ("product_id", "location_id", "on_hand", "reserved", "safety_stock", "inbound")

    def snapshot_arrays(self) -> dict[str, np.ndarray]:
        """Every position as int32 columns (int64 if a level does not fit), streamed in chunks so that the only large
        allocation is the result (the view sorts it; no ORDER BY needed here)."""
        driver = self.session.connection().connection.driver_connection
        chunks = list(self._packed_chunks(driver) if self.postgres else self._fetch_chunks(driver))
        table = np.concatenate(chunks) if chunks else np.zeros((0, 6), dtype=np.int32)
        return {name: np.ascontiguousarray(table[:, i]) for i, name in enumerate(self.SNAPSHOT_COLUMNS)}

    def _fetch_chunks(self, driver: Any, size: int = 250_000) -> Iterator[np.ndarray]:
        """SQLite's integers are 64-bit: each chunk is read as int64 and kept as int32 when
        it fits (always, for levels the write path bounds), so that a table holding larger
        levels still loads (numpy then widens the whole snapshot)."""
        cursor = driver.cursor()
        cursor.execute(f"SELECT {', '.join(self.SNAPSHOT_COLUMNS)} FROM stock_positions")
        low, high = np.iinfo(np.int32).min, np.iinfo(np.int32).max
        while batch := cursor.fetchmany(size):
            flat = np.fromiter(itertools.chain.from_iterable(batch), dtype=np.int64, count=6 * len(batch))
            fits = not len(flat) or (int(flat.min()) >= low and int(flat.max()) <= high)
            yield (flat.astype(np.int32) if fits else flat).reshape(-1, 6)

    def _packed_chunks(self, driver: Any, rows_per_chunk: int = 1_000_000) -> Iterator[np.ndarray]:
        """PostgreSQL packs each chunk of rows into one bytea of big-endian int4s
        (int4send), which numpy reads directly: no Python object per row or value."""
        cursor = driver.cursor(binary=True)
        cursor.execute("SELECT min(product_id), max(product_id), "
                       "(SELECT greatest(reltuples, 0) FROM pg_class WHERE relname = 'stock_positions') "
                       "FROM stock_positions")
        low, high, estimate = cursor.fetchone()
        if low is None:
            return
        parts = max(1, int((estimate or 0) // rows_per_chunk) + 1)
        step = (high - low) // parts + 1
        packed = " || ".join(f"int4send({c})" for c in self.SNAPSHOT_COLUMNS)
        for start in range(low, high + 1, step):
            cursor.execute(f"SELECT string_agg({packed}, ''::bytea) FROM stock_positions "
                           "WHERE product_id >= %s AND product_id < %s", (start, start + step))
            data = cursor.fetchone()[0]
            if data:
                yield np.frombuffer(data, dtype=">i4").reshape(-1, 6).astype(np.int32)

    def sales_since(self, location_id: int, since: dt.datetime) -> dict[int, int]:
        """Units sold per product at a location since ``since`` (applied sale events)."""
        # The condition is spelt as the partial index's is, literally: a bound 'sale'
        # would not let the planners prove the index applies.
        rows = self.session.execute(
            select(StockEvent.product_id, func.sum(StockEvent.quantity))
            .where(StockEvent.location_id == location_id, text(APPLIED_SALES), StockEvent.occurred_at >= since)
            .group_by(StockEvent.product_id)).all()
        return {product_id: int(total) for product_id, total in rows}

    def current_positions(self) -> dict[PositionKey, tuple[int, int, int, int]]:
        """The positions table with the log's trailing events added: the positions now."""
        rows = self.session.execute(select(
            StockPosition.product_id, StockPosition.location_id, StockPosition.on_hand, StockPosition.reserved,
            StockPosition.safety_stock, StockPosition.inbound))
        table = {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}
        for product_id, location_id, *deltas in self.trailing_deltas().tolist():
            stored = table.get((product_id, location_id), (0, 0, 0, 0))
            table[(product_id, location_id)] = tuple(a + b for a, b in zip(stored, deltas))  # type: ignore[assignment]
        return table

    def replay_log(self) -> dict[PositionKey, tuple[int, int, int, int]]:
        """The positions as the sum of the applied events' deltas."""
        rows = self.session.execute(
            select(StockEvent.product_id, StockEvent.location_id, func.sum(StockEvent.delta_on_hand),
                   func.sum(StockEvent.delta_reserved), func.sum(StockEvent.delta_safety_stock),
                   func.sum(StockEvent.delta_inbound))
            .where(StockEvent.refusal.is_(None)).group_by(StockEvent.product_id, StockEvent.location_id))
        return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows}

    def anomaly_count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(StockEvent).where(StockEvent.anomaly)) or 0

    # Read at driver level, past SQLAlchemy's time parsing, so that one unreadable stored
    # time cannot stop a view from loading.

    def open_reservations(self) -> list[tuple[Any, ...]]:
        """(reservation_id, product, location, quantity, expires_at) of open reservations."""
        rows = self.session.connection().exec_driver_sql(
            "SELECT reservation_id, product_id, location_id, quantity, expires_at FROM stock_reservations "
            "WHERE state = 'open'").fetchall()
        return [(*row[:4], _time_or_none(row[4], f"reservation {row[0]!r}")) for row in rows]

    def pending_inbound(self) -> list[tuple[Any, ...]]:
        """(product, location, eta, seq, pending, inbound_id) of inbounds still expected,
        earliest ETA first, then by id (an inbound whose ETA cannot be read is left out)."""
        rows = self.session.connection().exec_driver_sql(
            "SELECT product_id, location_id, eta, seq, quantity - received, inbound_id FROM stock_inbound "
            "WHERE quantity > received AND eta IS NOT NULL").fetchall()
        read = [(row[0], row[1], _time_or_none(row[2], f"inbound {row[5]!r}"), *row[3:]) for row in rows]
        return sorted((row for row in read if row[2] is not None), key=lambda row: (row[2], row[5]))
