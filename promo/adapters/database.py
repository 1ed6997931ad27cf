"""Engines and sessions for SQLite (embedded) and PostgreSQL (production)."""
from __future__ import annotations

import fcntl
import logging
import math
import os
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from promo.config import Settings
from promo.metrics import WAL_CHECKPOINT_FAILURES

# Execution option a unit of work sets when it will write: on SQLite the transaction then
# starts with BEGIN IMMEDIATE, taking the write lock up front instead of failing later
# when a reader tries to upgrade.
WRITE_INTENT = "promo_write_intent"


def create_db_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(settings)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_pre_ping=True,
        # A request waits at most this long for a pooled connection, and a new connection
        # at most this long for the server: with the database down or unreachable, writes
        # fail fast (503 database_unavailable) rather than hang.
        pool_timeout=DATABASE_WAIT_SECONDS,
        connect_args={"connect_timeout": DATABASE_WAIT_SECONDS},
    )


def _create_sqlite_engine(settings: Settings) -> Engine:
    url = make_url(settings.database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        # The connection returned last is handed out next. Each SQLite connection has its
        # own page cache (up to sqlite_cache_mb, below); handed out in turn, every pooled connection
        # of a worker filled one, in private memory (bench/worker_memory.py).
        pool_use_lifo=True,
        # We issue BEGIN ourselves (below), so that writers can say BEGIN IMMEDIATE.
        connect_args={"check_same_thread": False, "isolation_level": None,
                      "timeout": settings.sqlite_busy_timeout_ms / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A serving process checkpoints the WAL in the background (WalCheckpointer); this
        # is only the backstop, at ~256 MB, for processes that do not (the CLI).
        cursor.execute("PRAGMA wal_autocheckpoint=65536")
        cursor.execute(f"PRAGMA cache_size={-1024 * int(settings.sqlite_cache_mb)}")
        cursor.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        immediate = connection.get_execution_options().get(WRITE_INTENT)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# What the database layer raises when the database cannot be reached or cannot take the
# work now (refused or lost connections, an exhausted pool, SQLite busy past its timeout):
# the API answers 503 database_unavailable.
DATABASE_DOWN: tuple[type[Exception], ...] = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)

# Longest wait for a PostgreSQL connection (from the pool, or a new one) before giving up.
DATABASE_WAIT_SECONDS = 5

# A failing checkpoint is warned about at most this often (it is retried every interval).
CHECKPOINT_WARNING_SECONDS = 60.0


class WalCheckpointer:
    """Copies SQLite's write-ahead log back into the database from a background thread.

    Left to SQLite, the commit that crosses the WAL threshold runs the checkpoint while
    holding the write lock, so one stock batch in a few pays for everybody's pages. A
    PASSIVE checkpoint here runs beside the writers and never blocks them.
    """

    def __init__(self, engine: Engine, interval: float = 0.5):
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promo-wal-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        warned_at = -math.inf
        while not self._stop.wait(self.interval):
            try:
                with self.engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            except Exception as exc:  # try again next time; meanwhile the WAL grows, so say so
                WAL_CHECKPOINT_FAILURES.inc()
                if time.monotonic() - warned_at >= CHECKPOINT_WARNING_SECONDS:
                    warned_at = time.monotonic()
                    logging.getLogger("promo.database").warning(
                        "WAL checkpoint failed (%s); the write-ahead log grows until one succeeds "
                        "(promo_wal_checkpoint_failures_total counts them; warned at most once a minute)",
                        str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)


class WriteGate:
    """Queues writers to a SQLite file across threads and processes with a blocking
    flock, held from before BEGIN IMMEDIATE until after COMMIT.

    SQLite would serialise them anyway, but a writer that finds the database locked
    sleeps in growing steps (its busy handler) and wakes late; a writer blocked here
    wakes the moment the one before it is done. PostgreSQL needs no gate (row locks).
    """

    def __init__(self, path: str | None):
        self.path = path
        self._held = threading.local()

    @classmethod
    def for_settings(cls, settings: Settings) -> "WriteGate":
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return cls(f"{url.database}.writegate")
        return cls(None)

    def acquire(self) -> None:
        """Block until this thread may write; re-entrant within a thread."""
        if self.path is None:
            return
        depth = getattr(self._held, "depth", 0)
        if depth == 0:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)   # its own open file each time: flock is per open file
            self._held.fd = fd
        self._held.depth = depth + 1

    def release(self) -> None:
        if self.path is None:
            return
        self._held.depth -= 1
        if self._held.depth == 0:
            os.close(self._held.fd)          # closing drops the lock
            self._held.fd = None
