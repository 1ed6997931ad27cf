"""Keeps a process's StockView caught up with the stock log.

It always polls (every ``poll_interval`` seconds); on PostgreSQL it also LISTENs, so a
commit in another process wakes it at once. A gap in the sequence, or a log that went
backwards (a restored database), makes it load a fresh snapshot. A logged event it cannot
read as it is never stops it: it applies what it can of it (the position deltas), follows
past it, and reports it (log, metric, ``unreadable``, shown by /readyz).
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Sequence

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from promo.adapters.stock_log import LogRow, Unreadable
from promo.adapters.stock_repository import NOTIFY_CHANNEL, PositionKey, StockRepository
from promo.adapters.stock_view import StockView, position_key
from promo.domain.stock import Position
from promo.metrics import (
    STOCK_LISTEN_CONNECTS,
    STOCK_LISTENING,
    STOCK_SNAPSHOTS,
    STOCK_UNREADABLE,
    STOCK_VIEW_LAG,
    STOCK_VIEW_POSITIONS,
    STOCK_VIEW_SEQ,
)

log = logging.getLogger("promo.stock.follower")
# Small enough that the view's lock is never held long against readers.
CATCH_UP_BATCH = 2_000
# A writer leaves at most this many rows for after its commit; beyond, it applies them first.
MAX_UNAPPLIED = 20_000
# Unreadable events remembered for /readyz (all are counted; verify lists every one).
KEEP_UNREADABLE = 20
# How often a follower without a LISTEN connection (PostgreSQL) tries to open one again.
LISTEN_RETRY_SECONDS = 5.0


class StockFollower:
    def __init__(self, engine: Engine, session_factory: sessionmaker[Session], view: StockView, *,
                 poll_interval: float):
        self.engine = engine
        self.session_factory = session_factory
        self.view = view
        self.poll_interval = poll_interval
        self.snapshots_loaded = 0
        self.last_caught_up = 0.0          # monotonic time the view last matched the log's head
        self._anchor: str | None = None    # event_id at the view's sequence number
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._applied = threading.Condition()
        self._thread: threading.Thread | None = None
        self._catch_up_lock = threading.Lock()
        self.unreadable: list[Unreadable] = []         # the first KEEP_UNREADABLE met
        self.unreadable_count = 0
        self._unreadable_up_to = 0                       # the highest seq reported
        self._listen_tried_at = 0.0

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Load the snapshot now (so the view is right from the first request), then follow.

        A database that cannot be read yet (down, or not migrated) does not stop the
        process: the follower keeps trying, and /readyz says not ready meanwhile.
        """
        try:
            self.load_snapshot()
        except Exception as exc:
            log.warning("stock view not loaded yet (%s); will retry", type(exc).__name__)
        self._thread = threading.Thread(target=self._run, name="promo-stock-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def nudge(self) -> None:
        """Catch up now rather than at the next poll (a write in this process just committed)."""
        self._wake.set()

    @property
    def lag_seconds(self) -> float:
        return time.monotonic() - self.last_caught_up if self.last_caught_up else float("inf")

    # --- catching up ----------------------------------------------------------------------

    def load_snapshot(self) -> None:
        with self._catch_up_lock, self.session_factory() as session:
            repo = StockRepository(session)
            # One transaction: the positions, the log rows the table does not hold yet and
            # the sequence number agree (on PostgreSQL REPEATABLE READ gives one snapshot).
            if repo.postgres:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            seq = repo.last_seq()
            self.view.load(repo.snapshot_arrays(), repo.open_reservations(), repo.pending_inbound(), seq,
                           trailing=repo.trailing_deltas())
            self._anchor = repo.event_id_at(seq)
            session.rollback()
        self._unreadable_up_to = min(self._unreadable_up_to, seq)   # a log that went back is read anew
        self.snapshots_loaded += 1
        STOCK_SNAPSHOTS.inc()
        self._caught_up()

    def catch_up(self) -> int:
        """Apply everything committed since the view's sequence; return the new sequence."""
        with self._catch_up_lock:
            while True:
                with self.session_factory() as session:
                    repo = StockRepository(session)
                    if repo.postgres:  # the anchor and the rows from one snapshot of the log
                        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                    anchor = repo.event_id_at(self.view.as_of_seq)
                    rows, problems = repo.events_after(self.view.as_of_seq, CATCH_UP_BATCH)
                    head = repo.last_seq() if not rows else None
                if anchor != self._anchor:
                    log.warning("stock log replaced below seq %s; reloading the snapshot", self.view.as_of_seq)
                    break
                if rows and rows[0].seq != self.view.as_of_seq + 1:
                    log.warning("stock log gap after seq %s; reloading the snapshot", self.view.as_of_seq)
                    break
                if not rows:
                    if head is not None and head < self.view.as_of_seq:
                        log.warning("stock log went back to seq %s; reloading the snapshot", head)
                        break
                    self._caught_up()
                    return self.view.as_of_seq
                self._note_unreadable(problems)
                self.view.apply(rows)
                self._anchor = rows[-1].event_id
                self._notify_waiters()
        self.load_snapshot()
        return self.view.as_of_seq

    # --- the SQLite write path ------------------------------------------------------------

    def positions_for_write(self, session: Session, keys: Sequence[PositionKey], now: dt.datetime
                            ) -> tuple[dict[PositionKey, Position], list[LogRow]] | None:
        """The positions for ``keys`` as they stand inside ``session``'s write transaction,
        from the view and the log rows it has not applied yet; None when the view cannot
        stand in for the table (never loaded, or the log moved under it), and the caller
        reads the table instead.

        Only for SQLite: its write lock is the whole database, so the view plus the log
        up to the head read in this transaction is exactly the positions table and the
        open reservations, and nothing can change them before commit. The rows the view
        has not applied are returned too: the writer hands them back to ``apply_committed``
        with its own after commit, so applying them costs nothing inside the lock.
        """
        with self._catch_up_lock:
            if not self.snapshots_loaded:
                return None
            repo = StockRepository(session)
            if repo.event_id_at(self.view.as_of_seq) != self._anchor:
                self.nudge()                       # the follower reloads; this batch reads the table
                return None
            head = repo.last_seq()
            unapplied: list[LogRow] = []
            while self.view.as_of_seq + len(unapplied) < head:
                if len(unapplied) >= MAX_UNAPPLIED:    # far behind: catch up here instead
                    self.view.apply(unapplied)
                    self._anchor = unapplied[-1].event_id
                    unapplied = []
                after = self.view.as_of_seq + len(unapplied)
                rows, problems = repo.events_after(after, CATCH_UP_BATCH)
                if not rows or (rows[0].seq, rows[-1].seq) != (after + 1, after + len(rows)):
                    self.nudge()                   # not the gapless log the view follows
                    return None
                self._note_unreadable(problems)
                unapplied += rows
            if self.view.as_of_seq + len(unapplied) != head:
                self.nudge()
                return None
            stored = self.view.positions_for_write([position_key(*key) for key in keys], now, unapplied)
        return dict(zip(keys, stored)), unapplied

    def apply_committed(self, rows: Sequence[LogRow]) -> None:
        """Apply log rows known to be committed (in sequence order), so the
        view need not read them back: a writer's own, after the ones it was handed by
        ``positions_for_write``. Rows the view already has are skipped; if the rest do not
        follow on from the view, the follower reads the log as usual."""
        if not rows:
            return
        with self._catch_up_lock:
            seq, first = self.view.as_of_seq, rows[0].seq
            if seq >= rows[-1].seq:
                return                              # the follower got there first
            # Rows the view already has must be the very rows it applied (same log).
            same_log = first == seq + 1 or (first <= seq and rows[seq - first].event_id == self._anchor)
            if self.snapshots_loaded and same_log:
                fresh = rows[seq + 1 - first:]
                self.view.apply(fresh)
                self._anchor = fresh[-1].event_id
                self._caught_up()
                return
        self.nudge()

    def wait_for(self, seq: int, timeout: float) -> bool:
        """Block until the view has reached ``seq`` (True) or ``timeout`` passed (False)."""
        deadline = time.monotonic() + timeout
        self.nudge()
        with self._applied:
            while self.view.as_of_seq < seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._applied.wait(min(remaining, self.poll_interval))
                self.nudge()
        return True

    def _note_unreadable(self, problems: Sequence[Unreadable]) -> None:
        """Say loudly, once per event, that the view followed past an event it could not
        read as it is."""
        for problem in problems:
            if problem.seq <= self._unreadable_up_to:
                continue        # met again: read ahead by a write that then did not commit
            self._unreadable_up_to = problem.seq
            self.unreadable_count += 1
            STOCK_UNREADABLE.inc()
            if len(self.unreadable) < KEEP_UNREADABLE:
                self.unreadable.append(problem)
            log.error("stock log event seq %s (event_id %r) cannot be read as it is: %s; %s and following past it "
                      "(promo stock verify lists such events)", problem.seq, problem.event_id, problem.problem,
                      "its position deltas applied" if problem.deltas_applied else "no deltas applied")

    def _caught_up(self) -> None:
        self.last_caught_up = time.monotonic()
        STOCK_VIEW_SEQ.set(self.view.as_of_seq)
        STOCK_VIEW_POSITIONS.set(self.view.size())
        self._notify_waiters()

    def _notify_waiters(self) -> None:
        with self._applied:
            self._applied.notify_all()

    def _run(self) -> None:
        listener = self._listen()
        asked = True     # a nudge, a notification, or the first round
        while not self._stop.is_set():
            try:
                if not self.snapshots_loaded:
                    self.load_snapshot()
                # On SQLite each write catches the view up itself; a poll soon after one
                # would only compete with the next write for the interpreter.
                if asked or time.monotonic() - self.last_caught_up >= self.poll_interval:
                    self.catch_up()
            except Exception as exc:  # keep following; /readyz reports the lag meanwhile
                log.warning("stock follower cannot catch up (%s); retrying in a second",
                            str(exc).splitlines()[0][:300])
                self._stop.wait(1.0)
            STOCK_VIEW_LAG.set(self.lag_seconds if self.last_caught_up else -1)
            if listener is None and self._listen_due():
                listener = self._listen()
            if listener is not None:
                listener = self._wait_for_notify(listener)
                asked = True
            else:
                asked = self._wake.wait(self.poll_interval)
            self._wake.clear()
        if listener is not None:
            listener.close()
        STOCK_LISTENING.set(0)

    # --- PostgreSQL LISTEN ----------------------------------------------------------------
    # Notifications only wake the follower sooner: it polls anyway. A lost LISTEN connection
    # (a database restart, a network cut) leaves it polling until a new one is opened, tried
    # every LISTEN_RETRY_SECONDS; promo_stock_listen_connected says which it is doing.

    def _listen_due(self) -> bool:
        return (self.engine.dialect.name == "postgresql"
                and time.monotonic() - self._listen_tried_at >= LISTEN_RETRY_SECONDS)

    def _listen(self) -> psycopg.Connection | None:
        if self.engine.dialect.name != "postgresql":
            return None
        self._listen_tried_at = time.monotonic()
        try:
            url = self.engine.url.set(drivername="postgresql")
            connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                                         connect_timeout=5)
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except Exception as exc:
            log.warning("cannot LISTEN for stock changes (%s); polling, trying again in %s s",
                        str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__, LISTEN_RETRY_SECONDS)
            return None
        STOCK_LISTEN_CONNECTS.inc()
        STOCK_LISTENING.set(1)
        self.nudge()           # whatever was committed while not listening
        return connection

    def _wait_for_notify(self, listener: psycopg.Connection) -> psycopg.Connection | None:
        """Wait up to one poll interval for a notification or a local nudge."""
        deadline = time.monotonic() + self.poll_interval
        try:
            while not self._wake.is_set() and not self._stop.is_set():
                slice_ = min(0.05, deadline - time.monotonic())
                if slice_ <= 0:
                    break
                for _ in listener.notifies(timeout=slice_, stop_after=1):
                    return listener
        except Exception as exc:
            log.warning("lost the LISTEN connection for stock changes (%s); polling until it is back",
                        str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
            STOCK_LISTENING.set(0)
            try:
                listener.close()
            except Exception:
                pass
            return self._listen()
        return listener
