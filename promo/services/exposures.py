"""What was served, recorded off the request path: each served list adds its exposure
rows to a buffer in memory; a thread writes the buffer in batches every
``exposure_flush_ms`` (or sooner when it holds ``exposure_batch_size`` rows), and closing
the runtime (a graceful shutdown) writes what is left, so none is lost then. A process
killed outright loses at most the last flush interval's rows; a database that is away
keeps them buffered (up to ``EXPOSURE_BUFFER_LIMIT`` rows, then the oldest are dropped and
counted) until it is back.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from typing import Any, Callable, Iterable

from promo import metrics
from promo.adapters.exposure_writer import write_exposures
from promo.services.background import log_failure
from promo.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

EXPOSURE_BUFFER_LIMIT = 200_000
TREATED, HOLDOUT, UNTARGETED, RECOMMENDATION = "treated", "holdout", "untargeted", "recommendation"


def exposure(recommendation_id: str, served_at: dt.datetime, kind: str, *, customer: str | None, cohort: str,
             channel: str, location_id: int | None, campaign_id: int | None = None,
             skus: Iterable[str] = ()) -> dict[str, Any]:
    return {"recommendation_id": recommendation_id, "served_at": served_at, "kind": kind,
            "campaign_id": campaign_id, "customer": customer, "cohort": cohort, "channel": channel,
            "location_id": location_id, "skus": list(skus)}


class ExposureLog:
    def __init__(self, uow_factory: Callable[..., UnitOfWork], flush_seconds: float, batch_size: int):
        self._uow_factory = uow_factory
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self._lock:
            self._pending.extend(rows)
            overflow = len(self._pending) - EXPOSURE_BUFFER_LIMIT
            for _ in range(max(0, overflow)):
                self._pending.popleft()
            size = len(self._pending)
        if overflow > 0:
            metrics.EXPOSURES_DROPPED.inc(overflow)
        if size >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Write everything buffered now; return how many rows were written. A failed
        write puts its rows back at the front, in order, for the next attempt."""
        written = 0
        with self._write_lock:
            while True:
                with self._lock:
                    batch = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
                if not batch:
                    break
                try:
                    with self._uow_factory(write=True) as uow:
                        write_exposures(uow.session, batch)
                        uow.commit()
                except Exception:
                    with self._lock:
                        self._pending.extendleft(reversed(batch))
                    raise
                written += len(batch)
                metrics.EXPOSURES_WRITTEN.inc(len(batch))
        metrics.EXPOSURES_PENDING.set(len(self._pending))
        return written

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="exposure-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception as failed:
                log_failure(log, "writing exposures failed; kept for the next attempt", failed)

    def close(self) -> None:
        """Stop the writer and write what is left (a graceful shutdown loses nothing)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            written = self.flush()
        except Exception:
            log.exception("exposures lost at shutdown: the database could not be written",
                          extra={"lost": self.pending})
            return
        if written:
            log.info("exposures written at shutdown", extra={"written": written})
