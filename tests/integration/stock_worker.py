"""A separate process for the multi-process stock tests (run as a script, never collected).

    python stock_worker.py reserve DATABASE_URL SKU LOCATION PREFIX COUNT
        After printing "ready", waits for a line on stdin, then sends COUNT reservations of
        one unit, each in its own batch, and prints {"applied": n, "refused": {reason: n},
        "began": t, "ended": t} (time.monotonic(), comparable between processes).
    python stock_worker.py crash DATABASE_URL SKU LOCATION PREFIX COUNT
        Sends one batch of COUNT receipts and dies (os._exit) after the events were
        appended to the log but before the batch committed (its last step: saving the
        positions, or on the view path bringing the table forward); prints {"appended": n}
        (what its own transaction saw) just before dying.

    python stock_worker.py crash-after-commit DATABASE_URL SKU LOCATION PREFIX COUNT
        The same batch, but dies right after its transaction committed, before the
        process applied it to its view or answered; prints {"committed": n} just before.
reserve-following, crash-following and crash-after-commit-following do the same in a process whose stock view is
loaded and followed, as in a service worker: on SQLite its writes read the view, not
the positions table.
    python stock_worker.py follow DATABASE_URL
        Starts a process with a followed stock view, prints {"ready": as_of_seq}, reads a
        sequence number from stdin, waits until its view reaches it and prints the view's
        positions as {"as_of_seq": n, "positions": [[product, location, on_hand, reserved,
        safety_stock, inbound], ...], "inbound": [[product, location, eta, pending], ...]}.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time

from sqlalchemy import text

from promo.adapters.stock_repository import StockRepository
from promo.bootstrap import bootstrap
from promo.config import load_settings
from promo.services.stock import ingest_events
from promo.services.unit_of_work import UnitOfWork


def say(payload: object) -> None:
    print(json.dumps(payload), flush=True)


def event(event_id: str, sku: str, location: str, kind: str, quantity: int, **extra: object) -> dict[str, object]:
    return {"event_id": event_id, "sku": sku, "location": location, "type": kind, "quantity": quantity,
            "occurred_at": dt.datetime.now(dt.timezone.utc), "reason": None, "reservation_id": None,
            "expires_at": None, "eta": None, **extra}


def reserve(runtime, sku: str, location: str, prefix: str, count: int) -> None:
    say("ready")
    sys.stdin.readline()
    began = time.monotonic()    # the same clock in every process (CLOCK_MONOTONIC)
    applied, refused = 0, {}
    for i in range(count):
        rid = f"{prefix}-{i}"
        result = ingest_events(runtime.unit_of_work(write=True), runtime.stock,
                               [event(rid, sku, location, "reserve", 1, reservation_id=rid)])
        for item in result["refused"]:
            refused[item["reason"]] = refused.get(item["reason"], 0) + 1
        applied += result["accepted"]
    say({"applied": applied, "refused": refused, "began": began, "ended": time.monotonic()})


def crash(runtime, sku: str, location: str, prefix: str, count: int) -> None:
    def die_before_commit(self: StockRepository, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        appended = self.session.execute(
            text("SELECT COUNT(*) FROM stock_events WHERE event_id LIKE :p"), {"p": f"{prefix}-%"}).scalar_one()
        say({"appended": appended})
        os._exit(1)

    if runtime.stock.follower.snapshots_loaded and runtime.settings.is_sqlite:
        StockRepository.bring_positions_forward = die_before_commit  # type: ignore[method-assign]
    else:
        StockRepository.save_positions = die_before_commit  # type: ignore[method-assign]
    ingest_events(runtime.unit_of_work(write=True), runtime.stock,
                  [event(f"{prefix}-{i}", sku, location, "receipt", 1) for i in range(count)])
    say("survived")  # never reached


def crash_after_commit(runtime, sku: str, location: str, prefix: str, count: int) -> None:
    commit = UnitOfWork.commit

    def commit_then_die(self: UnitOfWork) -> None:
        commit(self)
        with runtime.engine.connect() as connection:
            committed = connection.execute(
                text("SELECT COUNT(*) FROM stock_events WHERE event_id LIKE :p"), {"p": f"{prefix}-%"}).scalar_one()
        say({"committed": committed})
        os._exit(1)

    UnitOfWork.commit = commit_then_die  # type: ignore[method-assign]
    ingest_events(runtime.unit_of_work(write=True), runtime.stock,
                  [event(f"{prefix}-{i}", sku, location, "receipt", 1) for i in range(count)])
    say("survived")  # never reached


def follow(runtime) -> None:
    say({"ready": runtime.stock.view.as_of_seq})
    target = int(sys.stdin.readline())
    deadline = time.monotonic() + 30
    while runtime.stock.view.as_of_seq < target and time.monotonic() < deadline:
        runtime.stock.follower.wait_for(target, 1.0)
    seq, positions = runtime.stock.view.all_positions()
    inbound = [[*key, eta.isoformat(), quantity] for key in sorted(positions)
               for eta, quantity in runtime.stock.view.next_inbound(*key)]
    say({"as_of_seq": seq, "positions": [[*key, *row] for key, row in sorted(positions.items())],
         "inbound": inbound})


def main(argv: list[str]) -> None:
    mode, url, *args = argv
    mode, following = mode.removesuffix("-following"), mode.endswith("-following")
    runtime = bootstrap(load_settings({"database_url": url, "env": "test", "log_level": "WARNING"}),
                        follow_stock=following or mode == "follow")
    try:
        if mode == "reserve":
            reserve(runtime, args[0], args[1], args[2], int(args[3]))
        elif mode == "crash":
            crash(runtime, args[0], args[1], args[2], int(args[3]))
        elif mode == "crash-after-commit":
            crash_after_commit(runtime, args[0], args[1], args[2], int(args[3]))
        elif mode == "follow":
            follow(runtime)
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    finally:
        runtime.close()


if __name__ == "__main__":
    main(sys.argv[1:])
