"""Sends the webhook outbox: claims due deliveries, POSTs them signed, records the outcome.

Every serving process runs ``webhook_sender_threads`` of these loops (started by
``bootstrap(follow_stock=True)``, stopped by ``Runtime.close()``); `promo webhooks
send-due` runs one pass. A claim is a lease (``claimed_until``) taken by a conditional
UPDATE in a short transaction of its own, and the POST happens outside any transaction,
so that a slow endpoint holds no lock. A process that dies mid-send leaves its rows
claimed until the lease runs out; then any sender takes them again: delivery is at least
once, and receivers dedupe by the ``Promo-Event-Id`` header.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import random
import secrets
import threading
import time
from typing import Callable

from promo import metrics
from promo.adapters.orm import utcnow
from promo.adapters.webhook_http import PostResult, post_json
from promo.adapters.webhook_repository import ClaimedDelivery
from promo.config import Settings
from promo.domain import webhooks as rules
from promo.services.background import log_failure
from promo.services.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Poster = Callable[[str, bytes, dict[str, str], float], PostResult]


@dataclasses.dataclass
class SendReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0     # claimed but handed back unsent (the sender was stopping)
    lost_claims: int = 0  # sent, but the lease had run out and another sender took the row

    def add(self, other: "SendReport") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


class WebhookSender:
    def __init__(self, unit_of_work: Callable[..., UnitOfWork], settings: Settings, poster: Poster = post_json):
        self._unit_of_work = unit_of_work
        self._settings = settings
        self._post = poster
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rng = random.Random()

    # --- one pass ---

    def send_batch(self, now: dt.datetime | None = None) -> SendReport:
        """Claim up to ``webhook_batch_size`` due deliveries and attempt each once."""
        settings = self._settings
        real_now = utcnow()
        now = now or real_now
        skew = now - real_now      # nonzero only when a test or a tool passes its own clock
        token = secrets.token_hex(16)
        lease_until = now + dt.timedelta(milliseconds=settings.webhook_lease_ms)
        with self._unit_of_work() as uow:
            if not uow.webhooks.any_due(now):
                return SendReport()
        with self._unit_of_work(write=True) as uow:
            claimed = uow.webhooks.claim_due(now, lease_until, token, settings.webhook_batch_size)
            uow.commit()
        report = SendReport(claimed=len(claimed))
        for index, delivery in enumerate(claimed):
            if self._stop.is_set():
                report.released += self._release(claimed[index:])
                break
            report.add(self._attempt(delivery, skew))
        return report

    def send_due(self, now: dt.datetime | None = None) -> SendReport:
        """Batches until nothing is due (or the sender is stopping): one pass over the outbox."""
        report = SendReport()
        while not self._stop.is_set():
            batch = self.send_batch(now)
            report.add(batch)
            if batch.claimed < self._settings.webhook_batch_size:
                break
        return report

    def _attempt(self, delivery: ClaimedDelivery, skew: dt.timedelta) -> SendReport:
        settings = self._settings
        body = rules.body_of(delivery.event_id, delivery.event_type, delivery.created_at.isoformat(),
                             delivery.payload)
        secret = rules.derive_secret(settings.secret_key, delivery.webhook_public_id, delivery.secret_salt)
        timestamp = int(time.time())
        headers = {rules.EVENT_ID_HEADER: delivery.event_id, rules.EVENT_TYPE_HEADER: delivery.event_type,
                   rules.TIMESTAMP_HEADER: str(timestamp),
                   rules.SIGNATURE_HEADER: rules.signature_header(secret, timestamp, body)}
        try:
            result = self._post(delivery.url, body, headers, settings.webhook_timeout_ms / 1000)
        except Exception as exc:  # noqa: BLE001 - whatever a URL does to the client is that attempt's failure
            log.exception("webhook delivery %s: the POST raised", delivery.id)
            result = PostResult(None, f"{type(exc).__name__}: {exc}"[:500])
        finished = utcnow() + skew
        report = SendReport()
        with self._unit_of_work(write=True) as uow:
            if result.ok:
                recorded = uow.webhooks.mark_delivered(delivery.id, delivery.claim_token, result.status_code or 0,
                                                       finished)
                outcome = "delivered"
            else:
                age = (finished - delivery.queued_at).total_seconds()
                give_up = rules.gives_up(delivery.attempts, age, settings.webhook_max_attempts,
                                         settings.webhook_max_age_seconds)
                retry_at = None if give_up else finished + dt.timedelta(seconds=rules.backoff_seconds(
                    delivery.attempts, settings.webhook_backoff_base_ms / 1000,
                    settings.webhook_backoff_max_ms / 1000, self._rng))
                recorded = uow.webhooks.mark_failed_attempt(delivery.id, delivery.claim_token, result.status_code,
                                                            result.error or "no 2xx answer", retry_at)
                outcome = "failed" if give_up else "retry"
            uow.commit()
        metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
        if not recorded:
            # Our lease ran out and another sender took the row (or it was deleted): it
            # will be sent again by them, which receivers dedupe by event id.
            log.warning("webhook delivery %s: lease lost before its outcome (%s) was recorded", delivery.id, outcome)
            report.lost_claims += 1
            return report
        if outcome == "delivered":
            report.delivered += 1
        elif outcome == "retry":
            report.retried += 1
            log.info("webhook delivery %s to %s failed (attempt %s), will retry: %s", delivery.id,
                     delivery.webhook_public_id, delivery.attempts, result.error)
        else:
            report.failed += 1
            log.warning("webhook delivery %s to %s given up after %s attempts: %s", delivery.id,
                        delivery.webhook_public_id, delivery.attempts, result.error)
        return report

    def _release(self, unsent: list[ClaimedDelivery]) -> int:
        with self._unit_of_work(write=True) as uow:
            released = sum(uow.webhooks.release(delivery.id, delivery.claim_token) for delivery in unsent)
            uow.commit()
        return released

    def refresh_pending_gauge(self) -> None:
        with self._unit_of_work() as uow:
            metrics.WEBHOOK_PENDING.set(uow.webhooks.pending_count())

    # --- background threads ---

    def start(self) -> None:
        for number in range(self._settings.webhook_sender_threads):
            thread = threading.Thread(target=self._run, args=(number,), name=f"promo-webhooks-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop claiming; a POST in flight finishes (bounded by the timeout) and is
        recorded; rows claimed but not yet attempted are handed back at once."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self._settings.webhook_timeout_ms / 1000 + 5)
        self._threads = []

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _run(self, number: int) -> None:
        interval = self._settings.webhook_poll_interval_ms / 1000
        # Threads start spread over one interval, so that they do not poll in lockstep.
        if self._stop.wait(interval * number / max(1, self._settings.webhook_sender_threads)):
            return
        while not self._stop.is_set():
            busy = False
            try:
                busy = self.send_batch().claimed > 0
                if number == 0 and not busy:
                    self.refresh_pending_gauge()
            except Exception as failed:  # noqa: BLE001 - a database hiccup must not kill the thread
                log_failure(log, "sending webhooks failed; will retry", failed)
            if not busy and self._stop.wait(interval):
                return
