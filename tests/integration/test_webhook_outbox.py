"""The webhook outbox on a real database, sent to a real HTTP receiver on loopback."""
from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from promo.adapters.orm import Webhook, WebhookDelivery, utcnow
from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.domain import webhooks as rules
from promo.services import webhooks
from tests.webhook_receiver import Receiver, closed_port_url

# No background threads unless a test starts them: each test drives the sender itself.
pytestmark = pytest.mark.settings(webhook_sender_threads=0, webhook_backoff_base_ms=1000,
                                  webhook_backoff_max_ms=8000, webhook_max_attempts=3,
                                  webhook_timeout_ms=2000, webhook_lease_ms=10000)


def register(runtime, url, events=("stock.out",)):
    view, secret = webhooks.create_webhook(runtime.unit_of_work(write=True), runtime.settings.secret_key, url=url,
                                           events=list(events))
    return view["id"], secret


def emit(runtime, event_type="stock.out", payload=None, commit=True):
    with runtime.unit_of_work(write=True) as uow:
        event_id = webhooks.enqueue(uow, event_type, payload or {"sku": "a", "location": "s1"})
        if commit:
            uow.commit()
    return event_id


def deliveries(runtime):
    with runtime.session_factory() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_a_committed_event_is_sent_signed_with_the_secret_shown_at_creation(runtime):
    with Receiver() as receiver:
        _, secret = register(runtime, receiver.url)
        event_id = emit(runtime, payload={"sku": "a", "location": "s1", "available": 0})

        report = runtime.webhooks.send_due()

        assert (report.claimed, report.delivered) == (1, 1)
        [request] = receiver.received
        headers = request["headers"]
        assert headers["Promo-Event-Id"] == event_id and headers["Promo-Event-Type"] == "stock.out"
        assert headers["Content-Type"] == "application/json"
        assert headers["Promo-Signature"].startswith(f"t={headers['Promo-Timestamp']},v1=")
        assert rules.verify_signature(secret, headers["Promo-Signature"], request["body"], now=time.time())
        assert not rules.verify_signature(secret + "x", headers["Promo-Signature"], request["body"], now=time.time())
        assert not rules.verify_signature(secret, headers["Promo-Signature"], request["body"] + b" ", now=time.time())
        body = receiver.events()[0]
        assert body["id"] == event_id and body["type"] == "stock.out"
        assert body["data"] == {"sku": "a", "location": "s1", "available": 0}
        [row] = deliveries(runtime)
        assert (row.status, row.attempts, row.last_status_code, row.claimed_until) == ("delivered", 1, 200, None)
        assert row.delivered_at is not None
        assert runtime.webhooks.send_due().claimed == 0     # sent once


def test_an_event_enqueued_in_a_rolled_back_unit_of_work_is_never_sent(runtime):
    with Receiver() as receiver:
        register(runtime, receiver.url)
        emit(runtime, commit=False)

        assert runtime.webhooks.send_due().claimed == 0
        assert deliveries(runtime) == [] and receiver.received == []


def test_only_active_endpoints_subscribed_to_the_type_get_a_delivery(runtime):
    with Receiver() as receiver:
        out_id, _ = register(runtime, receiver.url, ["stock.out"])
        both_id, _ = register(runtime, receiver.url, ["stock.out", "campaign.ended"])
        paused_id, _ = register(runtime, receiver.url, ["campaign.ended"])
        webhooks.update_webhook(runtime.unit_of_work(write=True), paused_id, {"active": False})

        emit(runtime, "campaign.ended", {"campaign": "c1"})
        emit(runtime, "stock.back", {"sku": "a"})           # nobody subscribes: no row

        rows = deliveries(runtime)
        assert len(rows) == 1 and rows[0].event_type == "campaign.ended"
        with runtime.session_factory() as session:
            assert session.get(Webhook, rows[0].webhook_id).public_id == both_id


def test_enqueue_refuses_what_is_not_an_event_or_not_json(runtime):
    with runtime.unit_of_work(write=True) as uow:
        with pytest.raises(ValueError, match="unknown webhook event type"):
            webhooks.enqueue(uow, "stock.exploded", {})
        with pytest.raises(ValueError, match="plain JSON"):
            webhooks.enqueue(uow, "stock.out", {"when": dt.datetime.now()})
        with pytest.raises(ValueError, match="at most"):
            webhooks.enqueue(uow, "stock.out", {"x": "a" * 70_000})


def test_a_failing_endpoint_is_retried_with_backoff_then_delivered(runtime):
    with Receiver(statuses=[500, 503]) as receiver:
        register(runtime, receiver.url)
        emit(runtime)

        # The wait counts from the attempt's end; last_attempt_at is its start (the claim),
        # so the attempt's own time (up to the whole send_due call) may come on top.
        started = time.monotonic()
        first = runtime.webhooks.send_due()
        took = time.monotonic() - started
        [row] = deliveries(runtime)
        assert first.retried == 1 and (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
        assert "HTTP 500" in row.last_error
        wait = (row.next_attempt_at - row.last_attempt_at).total_seconds()
        assert 0.5 <= wait <= 1.0 + took                     # base 1 s, jittered between half and all of it
        assert runtime.webhooks.send_due().claimed == 0      # not due yet

        started = time.monotonic()
        runtime.webhooks.send_due(now=utcnow() + dt.timedelta(seconds=2))
        took = time.monotonic() - started
        [row] = deliveries(runtime)
        assert (row.attempts, row.last_status_code) == (2, 503)
        wait = (row.next_attempt_at - row.last_attempt_at).total_seconds()
        assert 1.0 <= wait <= 2.0 + took                     # doubled

        runtime.webhooks.send_due(now=utcnow() + dt.timedelta(seconds=10))
        [row] = deliveries(runtime)
        assert (row.status, row.attempts, row.last_status_code, row.last_error) == ("delivered", 3, 200, None)
        assert [r["status"] for r in receiver.received] == [500, 503, 200]
        assert len({r["headers"]["Promo-Event-Id"] for r in receiver.received}) == 1   # one event, three tries


def test_an_endpoint_that_is_down_is_given_up_after_the_attempts_then_retried_on_request(runtime):
    hook_id, _ = register(runtime, closed_port_url())
    emit(runtime)
    later = utcnow()
    for _ in range(3):
        later += dt.timedelta(seconds=30)
        runtime.webhooks.send_due(now=later)
    [row] = deliveries(runtime)
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, None)
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    assert runtime.webhooks.send_due(now=later + dt.timedelta(days=1)).claimed == 0    # given up for good

    with Receiver() as receiver:
        webhooks.update_webhook(runtime.unit_of_work(write=True), hook_id, {"url": receiver.url})
        view = webhooks.retry_delivery(runtime.unit_of_work(write=True), hook_id, str(row.id))
        assert (view["status"], view["attempts"]) == ("pending", 0)

        assert runtime.webhooks.send_due().delivered == 1
        assert len(receiver.received) == 1


def test_an_old_delivery_is_given_up_at_its_age_even_with_attempts_left(runtime):
    register(runtime, closed_port_url())
    emit(runtime)
    with runtime.session_factory() as session:
        row = session.scalars(select(WebhookDelivery)).one()
        row.queued_at = utcnow() - dt.timedelta(seconds=runtime.settings.webhook_max_age_seconds + 1)
        session.commit()

    runtime.webhooks.send_due()

    [row] = deliveries(runtime)
    assert (row.status, row.attempts) == ("failed", 1)


def test_a_delivery_claimed_by_a_process_that_died_is_sent_after_the_lease(runtime):
    with Receiver() as receiver:
        register(runtime, receiver.url)
        emit(runtime)
        now = utcnow()
        # A sender claims the row and dies before sending: nothing records an outcome.
        with runtime.unit_of_work(write=True) as uow:
            [claimed] = uow.webhooks.claim_due(now, now + dt.timedelta(seconds=10), "dead-process", 10)
            uow.commit()

        assert runtime.webhooks.send_due().claimed == 0          # still leased
        report = runtime.webhooks.send_due(now=now + dt.timedelta(seconds=11))

        assert report.delivered == 1 and len(receiver.received) == 1
        [row] = deliveries(runtime)
        assert (row.status, row.attempts) == ("delivered", 2)     # the dead one's try counts
        # The dead process's late outcome is not recorded over the new holder's.
        with runtime.unit_of_work(write=True) as uow:
            assert not uow.webhooks.mark_failed_attempt(claimed.id, "dead-process", 500, "late", None)
            uow.commit()
        assert deliveries(runtime)[0].status == "delivered"


def test_two_runtimes_with_two_threads_each_deliver_every_event_exactly_once(runtime, settings_overrides):
    settings = load_settings({**settings_overrides, "webhook_sender_threads": 2, "webhook_poll_interval_ms": 20,
                              "webhook_batch_size": 3})
    with Receiver() as receiver:
        register(runtime, receiver.url, ["stock.low"])
        register(runtime, receiver.url, ["stock.low"])       # two endpoints: two deliveries an event
        event_ids = [emit(runtime, "stock.low", {"n": n}) for n in range(30)]
        senders = [bootstrap(settings) for _ in range(2)]
        try:
            for other in senders:
                other.webhooks.start()
            receiver.wait_for(lambda: len(receiver.received) >= 60, timeout=60)
            time.sleep(0.3)    # give any duplicate time to show up
        finally:
            for other in senders:
                other.close()

        sent = sorted((r["headers"]["Promo-Event-Id"], r["headers"]["Promo-Signature"] != "") for r in receiver.received)
        assert len(sent) == 60
        assert sorted(r["headers"]["Promo-Event-Id"] for r in receiver.received) == sorted(event_ids * 2)
        assert {(row.status, row.attempts) for row in deliveries(runtime)} == {("delivered", 1)}


def test_stopping_the_sender_finishes_the_send_in_flight_and_hands_back_the_rest(runtime, settings_overrides):
    settings = load_settings({**settings_overrides, "webhook_sender_threads": 1, "webhook_poll_interval_ms": 20,
                              "webhook_batch_size": 5})
    with Receiver(delay=0.5) as receiver:
        register(runtime, receiver.url)
        for n in range(5):
            emit(runtime, payload={"n": n})
        sender = bootstrap(settings)
        sender.webhooks.start()
        assert receiver.started.wait(10)
        sender.close()                         # while the first POST is in flight

        assert not sender.webhooks.running
        rows = deliveries(runtime)
        assert [r.status for r in rows].count("delivered") == len(receiver.received) >= 1
        waiting = [r for r in rows if r.status == "pending"]
        assert waiting and all(r.claimed_until is None and r.attempts == 0 for r in waiting)
        # Handed back, so another sender takes them at once rather than after the lease.
        assert runtime.webhooks.send_due().delivered == len(waiting)


@pytest.mark.settings(webhook_sender_threads=1, webhook_poll_interval_ms=20)
def test_the_serving_process_sends_after_commit_on_its_own(runtime):
    assert runtime.webhooks.running
    with Receiver() as receiver:
        register(runtime, receiver.url)
        event_id = emit(runtime)

        receiver.wait_for(lambda: len(receiver.received) == 1)

        assert receiver.received[0]["headers"]["Promo-Event-Id"] == event_id
    runtime.close()
    assert not runtime.webhooks.running


def test_several_processes_sending_at_once_deliver_every_event_exactly_once(runtime, database_url):
    import os
    import subprocess
    import sys
    from pathlib import Path

    promo = str(Path(sys.executable).parent / "promo")
    env = {**os.environ, "PROMO_DATABASE_URL": database_url, "PROMO_WEBHOOK_BATCH_SIZE": "2",
           "PROMO_LOG_LEVEL": "WARNING"}
    with Receiver(delay=0.01) as receiver:
        register(runtime, receiver.url, ["stock.back"])
        event_ids = [emit(runtime, "stock.back", {"n": n}) for n in range(40)]

        processes = [subprocess.Popen([promo, "webhooks", "send-due"], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outputs = [process.communicate(timeout=120) for process in processes]

        assert [process.returncode for process in processes] == [0, 0, 0], outputs
        claimed = [int(out.split()[1].rstrip(":")) for out, _ in outputs]
        assert sum(claimed) == 40
        assert sorted(r["headers"]["Promo-Event-Id"] for r in receiver.received) == sorted(event_ids)
