"""The campaign watch: a background thread in every serving process that makes the
transitions nobody asks for. Each tick starts and ends campaigns on the clock, pauses or
resumes them on live stock (campaign_lifecycle.run_due and watch_stock), and sends the
low / out / back events of promoted products (promoted_stock). Every process runs it;
conditional updates make each transition and each event happen once.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING, Callable

from promo.adapters.orm import utcnow
from promo.services.background import log_failure
from promo.services.campaign_lifecycle import StockJudgements, run_due, watch_stock
from promo.services.promoted_stock import watch_promoted_stock

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

log = logging.getLogger("promo.campaigns.watch")


def stock_view_ready(runtime: "Runtime") -> bool:
    """Whether this process's stock view may be judged by: loaded, and caught up with the
    log within stock_max_lag_ms (what /readyz asks too). A process that has just started,
    or lost its database, must not pause every campaign for stock it has not read yet."""
    follower = runtime.stock.follower
    return follower.snapshots_loaded > 0 and follower.lag_seconds <= runtime.settings.stock_max_lag_ms / 1000


class CampaignWatch:
    def __init__(self, runtime: "Runtime", interval: float, clock: Callable[[], dt.datetime] = utcnow):
        self._runtime = runtime
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._judgements = StockJudgements()

    def tick(self, now: dt.datetime | None = None) -> list[tuple[str, str]]:
        """One pass; returns the transitions this process made."""
        now = now or self._clock()
        ready = stock_view_ready(self._runtime)
        if ready:
            self._runtime.demand.refresh_if_stale()
        done = run_due(self._runtime, now, stock_ready=ready)
        if ready:
            done += watch_stock(self._runtime, now, self._judgements)
            for change in watch_promoted_stock(self._runtime):
                log.info("promoted stock %s", change.kind, extra={"product_id": change.product_id,
                                                                   "location_id": change.location_id})
        for code, what in done:
            log.info("campaign %s", what, extra={"campaign": code})
        return done

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except Exception as failed:
                # A failed tick (the database away, a campaign that cannot be judged) is
                # retried at the next one; the thread must outlive it.
                log_failure(log, "campaign watch tick failed", failed)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="promo-campaign-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
