"""Keeps a process's StockView caught up with the stock log.

It always polls (every ``poll_interval`` seconds); on PostgreSQL it also LISTENs, so a
commit in another process wakes it at once. A gap in the sequence, or a log that went
backwards (a restored database), makes it load a fresh snapshot.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any, Sequence

import psycopg
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from promo.adapters.stock_repository import NOTIFY_CHANNEL, PositionKey, StockRepository
from promo.adapters.stock_view import StockView, position_key
from promo.domain.stock import Position
from promo.metrics import STOCK_SNAPSHOTS, STOCK_VIEW_LAG, STOCK_VIEW_POSITIONS, STOCK_VIEW_SEQ

log = logging.getLogger("promo.stock.follower")
# Small enough that the view's lock is never held long against readers.
CATCH_UP_BATCH = 2_000


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
            # One transaction: the positions and the sequence number agree (on PostgreSQL
            # REPEATABLE READ gives one snapshot for all three reads).
            if repo.postgres:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            seq = repo.last_seq()
            self.view.load(repo.snapshot_arrays(), repo.open_reservations(), repo.pending_inbound(), seq)
            self._anchor = repo.event_id_at(seq)
            session.rollback()
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
                    rows = repo.events_after(self.view.as_of_seq, CATCH_UP_BATCH)
                    head = repo.last_seq() if not rows else None
                if anchor != self._anchor:
                    log.warning("stock log replaced below seq %s; reloading the snapshot", self.view.as_of_seq)
                    break
                if rows and rows[0][0] != self.view.as_of_seq + 1:
                    log.warning("stock log gap after seq %s; reloading the snapshot", self.view.as_of_seq)
                    break
                if not rows:
                    if head is not None and head < self.view.as_of_seq:
                        log.warning("stock log went back to seq %s; reloading the snapshot", head)
                        break
                    self._caught_up()
                    return self.view.as_of_seq
                self.view.apply(rows)
                self._anchor = rows[-1][-1]
                self._notify_waiters()
        self.load_snapshot()
        return self.view.as_of_seq

    # --- the SQLite write path ------------------------------------------------------------

    def positions_for_write(self, session: Session, keys: Sequence[PositionKey],
                            now: dt.datetime) -> dict[PositionKey, Position] | None:
        """The positions for ``keys`` as the view holds them, caught up inside ``session``'s
        write transaction; None when the view cannot stand in for the table (never
        loaded, or the log moved under it), and the caller reads the table instead.

        Only for SQLite: its write lock is the whole database, so once the view has
        applied the log up to the head read in this transaction, nothing can change it
        before commit, and the view is exactly the positions table plus reservations.
        """
        with self._catch_up_lock:
            if not self.snapshots_loaded:
                return None
            repo = StockRepository(session)
            if repo.event_id_at(self.view.as_of_seq) != self._anchor:
                self.nudge()                       # the follower reloads; this batch reads the table
                return None
            head = repo.last_seq()
            while self.view.as_of_seq < head:
                rows = repo.events_after(self.view.as_of_seq, CATCH_UP_BATCH)
                if not rows or rows[0][0] != self.view.as_of_seq + 1:
                    self.nudge()
                    return None
                self.view.apply(rows)
                self._anchor = rows[-1][-1]
            if head != self.view.as_of_seq:
                self.nudge()
                return None
            self._caught_up()
            stored = self.view.positions_for_write([position_key(*key) for key in keys], now)
        return dict(zip(keys, stored))

    def apply_own(self, rows: Sequence[Sequence[Any]]) -> None:
        """Apply events this process has just committed (LOG_COLUMNS), so the view need
        not read them back; if the view is not exactly at the sequence before them, the
        follower reads them as usual."""
        if not rows:
            return
        with self._catch_up_lock:
            if self.snapshots_loaded and self.view.as_of_seq == rows[0][0] - 1:
                self.view.apply(rows)
                self._anchor = rows[-1][-1]
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
        while not self._stop.is_set():
            try:
                if not self.snapshots_loaded:
                    self.load_snapshot()
                if listener is not None or time.monotonic() - self.last_caught_up >= self.poll_interval:
                    self.catch_up()
            except Exception as exc:  # keep following; /readyz reports the lag meanwhile
                log.warning("stock follower cannot catch up (%s); retrying in a second",
                            str(exc).splitlines()[0][:300])
                self._stop.wait(1.0)
            STOCK_VIEW_LAG.set(self.lag_seconds if self.last_caught_up else -1)
            if listener is not None:
                listener = self._wait_for_notify(listener)
            else:
                self._wake.wait(self.poll_interval)
            self._wake.clear()
        if listener is not None:
            listener.close()

    # --- PostgreSQL LISTEN ----------------------------------------------------------------

    def _listen(self) -> psycopg.Connection | None:
        if self.engine.dialect.name != "postgresql":
            return None
        try:
            url = self.engine.url.set(drivername="postgresql")
            connection = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
            return connection
        except Exception:
            log.exception("cannot LISTEN for stock changes; polling only")
            return None

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
        except Exception:
            log.exception("lost the LISTEN connection; polling only until it is back")
            listener.close()
            return self._listen()
        return listener
