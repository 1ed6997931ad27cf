"""Stock use cases: ingesting stock events, reading positions and availability, verifying.

Writes go through the database in one transaction: the log, the reservations and inbound
beside it, and the positions table (on SQLite in bulk, once it trails the log by
``stock_positions_lag`` events). Reads come from the process's in-memory StockView and
say how current they are (``as_of_seq``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from collections import Counter
from typing import Any, Sequence

from sqlalchemy.exc import IntegrityError

from promo.adapters.catalog_index import CatalogIndex
from promo.adapters.stock_follower import StockFollower
from promo.adapters.stock_log import EventRow, LogRow
from promo.adapters.stock_repository import PositionKey, StockRepository
from promo.adapters.stock_view import StockView
from promo.domain import availability as atp
from promo.domain.batches import (
    conflicting_repeat_errors,
    merge_item_errors,
    repeated_key_errors,
    unknown_reference_errors,
)
from promo.domain.errors import InvalidInput, NotFound
from promo.domain.stock import EventType, Inbound, Position, Reservation, StockEventInput, crossings, decide
from promo.metrics import STOCK_ANOMALIES, STOCK_DUPLICATES, STOCK_EVENTS
from promo.services.pages import page_of
from promo.services.signals import Signal, SignalBus
from promo.services.unit_of_work import UnitOfWork

# A unique-key race (the same new event_id or reservation_id in two concurrent batches)
# is resolved by running the batch again: the second run sees the first one's rows.
MAX_ATTEMPTS = 3


@dataclasses.dataclass
class StockContext:
    """What the stock use cases need of the process: its view, follower, indexes and bus."""

    view: StockView
    follower: StockFollower
    catalog: CatalogIndex
    signals: SignalBus
    low_stock_threshold: int
    max_wait_seconds: float
    positions_lag: int          # SQLite: events the positions table may trail the log by


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --- writing ------------------------------------------------------------------------------

def ingest_events(uow: UnitOfWork, stock: StockContext, events: Sequence[dict[str, Any]],
                  now: dt.datetime | None = None) -> dict[str, Any]:
    """Log and apply a batch of stock events; idempotent by event_id.

    Validation is all or nothing (422, nothing written; an event_id repeated within the
    batch with other content is invalid). Facts always apply, unless they would take a
    level past MAX_LEVEL; a request that cannot be met is refused for that event alone,
    with a reason code, and the rest of the batch applies. A repeated event_id is a
    duplicate and reports the outcome it had the first time.
    """
    product_ids = stock.catalog.product_ids(e["sku"] for e in events)
    location_ids = {code: stock.catalog.location_id(code) for code in {e["location"] for e in events}}
    errors = merge_item_errors(
        conflicting_repeat_errors(events, "event_id"),
        unknown_reference_errors(events, "sku", product_ids, lambda sku: f"unknown sku {sku!r}"),
        unknown_reference_errors(events, "location", {c for c, i in location_ids.items() if i is not None},
                                 lambda code: f"unknown location {code!r}"),
    )
    if errors:
        raise InvalidInput("some events are invalid; nothing was written", {"events": errors})
    types = {kind.value: kind for kind in EventType}
    inputs = [
        StockEventInput(e["event_id"], product_ids[e["sku"]], location_ids[e["location"]], types[e["type"]],
                        e["quantity"], e.get("reservation_id"), e.get("expires_at"), e.get("inbound_id"), e.get("eta"))
        for e in events
    ]
    # The first attempt looks for already-logged events before taking the write lock, to
    # keep that lock short; an event logged meanwhile by another writer trips the unique
    # event_id, and the next attempts look again inside the write transaction.
    with uow.reading() as reader:
        logged: dict[str, tuple[int, str | None]] | None = \
            StockRepository(reader.session).logged_outcomes(i.event_id for i in inputs)
    batch = EventBatch(events, inputs)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with uow:
                written = apply_within(uow, stock, batch, logged, now or _utcnow())
                uow.commit()
            break
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                raise
            logged = None
    return written.after_commit(stock)


def _count(tally: dict[tuple[str, str], int], result: dict[str, Any]) -> None:
    for (kind, outcome), n in tally.items():
        STOCK_EVENTS.labels(kind, outcome).inc(n)
    STOCK_DUPLICATES.inc(result["duplicates"])
    STOCK_ANOMALIES.inc(result["anomalies"])


class EventBatch:
    """A validated batch and what its write transaction will look up, worked out before
    the write lock is taken."""

    def __init__(self, events: Sequence[dict[str, Any]], inputs: list[StockEventInput]):
        self.events = events
        self.inputs = inputs
        self.keys: list[PositionKey] = sorted({(i.product_id, i.location_id) for i in inputs})
        self.reservation_ids = {i.reservation_id for i in inputs if i.reservation_id}
        self.inbound_ids = _inbound_ids(inputs)


@dataclasses.dataclass
class WrittenBatch:
    """A batch applied inside a transaction that is not committed yet: what to tell the
    process's view and the signal bus once it is (``after_commit``), and the result."""

    result: dict[str, Any]
    log_rows: list[EventRow]
    unapplied: list[LogRow] | None
    positions: dict[PositionKey, Position]
    before: dict[PositionKey, Position]
    last_seq: dict[PositionKey, int]
    wanted: set[str]

    def after_commit(self, stock: StockContext) -> dict[str, Any]:
        """Tell the view, count, and publish the signals; returns the batch's result."""
        if self.unapplied is None:      # the view was not used: it reads the log as usual
            stock.follower.nudge()
        else:
            stock.follower.apply_committed(self.unapplied + [row.as_logged() for row in self.log_rows])
        tally = Counter((row.type, row.refusal or "applied") for row in self.log_rows)
        signals = [
            Signal(kind.value, {"product_id": key[0], "location_id": key[1],
                                "available": self.positions[key].available, "as_of_seq": self.last_seq[key]})
            for key in (sorted(self.last_seq) if self.wanted else ())
            for kind in crossings(self.before[key], self.positions[key], stock.low_stock_threshold)
            if kind.value in self.wanted
        ]
        _count(tally, self.result)
        stock.signals.publish(signals)
        return self.result


def apply_within(uow: UnitOfWork, stock: StockContext, batch: EventBatch,
                 logged: dict[str, tuple[int, str | None]] | None, now: dt.datetime) -> WrittenBatch:
    """Log and apply a validated batch inside ``uow``'s open write transaction, which the
    caller commits (then calls ``after_commit``) or rolls back (then nothing happened):
    checkout takes stock in the same transaction as the redemption it belongs to."""
    events, inputs = batch.events, batch.inputs
    wanted = stock.signals.wanted()
    repo = StockRepository(uow.session)
    positions, unapplied = _locked_positions(repo, stock, batch.keys, now)
    before = {key: position.copy() for key, position in positions.items()} if wanted else {}
    if logged is None:
        logged = repo.logged_outcomes(i.event_id for i in inputs)
    reservations = repo.reservations(batch.reservation_ids)
    inbounds = repo.inbounds(batch.inbound_ids)

    fresh: dict[str, int] = {}          # event_id -> index of its first occurrence here
    for index, event in enumerate(inputs):
        if event.event_id not in logged and event.event_id not in fresh:
            fresh[event.event_id] = index
    seq = repo.allocate_seqs(len(fresh), positions_written=unapplied is None) if fresh else None

    log_rows: list[EventRow] = []
    side = _SideRecords(repo, reservations, inbounds)
    refused: list[dict[str, Any]] = []
    last_seq: dict[PositionKey, int] = {}
    outcomes: dict[str, str | None] = {}
    duplicates = 0
    for index, (raw, event) in enumerate(zip(events, inputs)):
        if event.event_id in logged or fresh[event.event_id] != index:
            duplicates += 1
            refusal = logged[event.event_id][1] if event.event_id in logged else outcomes[event.event_id]
            if refusal:
                refused.append({"index": index, "event_id": event.event_id, "reason": refusal, "duplicate": True})
            continue
        assert seq is not None
        key = (event.product_id, event.location_id)
        state_before = side.reservation_state(event.reservation_id) if event.reservation_id else None
        outcome = decide(event, positions[key], reservations, now, inbounds)
        refusal = outcome.refusal.value if outcome.refusal else None
        outcomes[event.event_id] = refusal
        deltas, inbound_id = outcome.deltas, _inbound_of(event)
        log_rows.append(_event_row((
            seq, event.product_id, event.location_id, raw["type"], event.quantity, event.reservation_id,
            event.expires_at, event.eta, refusal, deltas.on_hand, deltas.reserved, deltas.safety_stock,
            deltas.inbound, inbound_id, event.event_id, raw.get("reason"), raw["occurred_at"], now,
            outcome.anomaly)))
        if refusal:
            refused.append({"index": index, "event_id": event.event_id, "reason": refusal, "duplicate": False})
        else:
            last_seq[key] = seq
            if event.reservation_id or deltas.inbound or inbound_id:
                side.record(event, raw, seq, deltas.inbound, state_before)
        seq += 1

    repo.append_events(log_rows)
    if unapplied is None:
        repo.save_positions({k: positions[k] for k in last_seq}, last_seq)
    side.flush()
    if unapplied is not None:
        # The log is the record; the table follows it in bulk (see stock_positions_lag).
        repo.bring_positions_forward(min_lag=stock.positions_lag)
    head = (seq - 1) if seq is not None else repo.last_seq()
    if log_rows:
        repo.notify(head)
    result = {"accepted": len(events) - duplicates - sum(1 for r in refused if not r["duplicate"]),
              "duplicates": duplicates, "refused": refused, "last_seq": head,
              "anomalies": sum(1 for row in log_rows if row.anomaly)}
    return WrittenBatch(result, log_rows, unapplied, positions, before, last_seq, wanted)


def _locked_positions(repo: StockRepository, stock: StockContext, keys: list[PositionKey], now: dt.datetime
                      ) -> tuple[dict[PositionKey, Position], list[LogRow] | None]:
    """The positions a batch touches, as they stand inside its write transaction, and
    the committed log rows the process's view has yet to apply (None when the view was
    not used).

    On SQLite the transaction holds the whole database, so the process's view plus the
    log rows it has not applied yet (another process's last batch, typically) is the
    positions table: no reads of the table. PostgreSQL locks the rows (FOR UPDATE),
    which other writers may hold. When the table is read, it is brought up to the log's
    head first (on PostgreSQL it always is).
    """
    if not repo.postgres:
        from_view = stock.follower.positions_for_write(repo.session, keys, now)
        if from_view is not None:
            return from_view
        repo.bring_positions_forward()
    positions = repo.lock_positions(keys)
    for key, expired in repo.expired_reserved(keys, now).items():
        positions[key].expired_reserved = expired
    return positions, None


# EventRow from a tuple without the named tuple's Python-level __new__: built for every
# event inside the write lock.
_event_row = functools.partial(tuple.__new__, EventRow)
_INBOUND_TYPES = (EventType.INBOUND, EventType.RECEIPT)


def _inbound_of(event: StockEventInput) -> str | None:
    """The inbound an event concerns: its own id for a notice, the named one for a receipt."""
    return event.event_id if event.type is EventType.INBOUND else event.inbound_id


def _inbound_ids(inputs: Sequence[StockEventInput]) -> set[str]:
    return {inbound for inbound in map(_inbound_of, inputs) if inbound}


class _SideRecords:
    """Rows beside the log that applied events change: reservations and expected inbound."""

    def __init__(self, repo: StockRepository, reservations: dict[str, Reservation], inbounds: dict[str, Inbound]):
        self.repo = repo
        self.reservations = reservations
        self.inbounds = inbounds
        self.opened: dict[str, dict[str, Any]] = {}
        self.closed: list[tuple[str, str, int]] = []

    def reservation_state(self, reservation_id: str | None) -> str | None:
        found = self.reservations.get(reservation_id or "")
        return found.state if found else None

    def record(self, event: StockEventInput, raw: dict[str, Any], seq: int, inbound_delta: int,
               state_before: str | None) -> None:
        if event.type is EventType.RESERVE:
            self.opened[event.reservation_id or ""] = {
                "reservation_id": event.reservation_id, "product_id": event.product_id,
                "location_id": event.location_id, "quantity": event.quantity, "expires_at": event.expires_at,
                "state": "open", "opened_seq": seq, "closed_seq": None}
        elif event.reservation_id and state_before is not None:
            state = self.reservations[event.reservation_id].state
            if state != state_before:
                if event.reservation_id in self.opened:   # opened and closed within this batch
                    self.opened[event.reservation_id].update(state=state, closed_seq=seq)
                else:
                    self.closed.append((event.reservation_id, state, seq))
        inbound_id = _inbound_of(event)
        if inbound_id and event.type in _INBOUND_TYPES:
            # Written at once, so that a receipt later in the batch sees it.
            inbound = self.inbounds[inbound_id]
            if (inbound.product_id, inbound.location_id) == (event.product_id, event.location_id):
                self.repo.save_inbound(inbound, seq)
        elif inbound_delta < 0:
            used = self.repo.consume_inbound((event.product_id, event.location_id), -inbound_delta)
            for inbound_id, quantity in used.items():
                if inbound_id in self.inbounds:   # a later event of this batch names it: keep it current
                    self.inbounds[inbound_id].received += quantity

    def flush(self) -> None:
        self.repo.add_reservations(list(self.opened.values()))
        self.repo.close_reservations(self.closed)


# --- reading ------------------------------------------------------------------------------

def _await(stock: StockContext, min_seq: int | None) -> None:
    """Let a caller see its own write: wait (bounded) until the view reaches ``min_seq``."""
    if min_seq is not None and stock.view.as_of_seq < min_seq:
        stock.follower.wait_for(min_seq, stock.max_wait_seconds)


def _product_id(stock: StockContext, sku: str) -> int:
    found = stock.catalog.product_ids([sku]).get(sku)
    if found is None:
        raise NotFound(f"no product with sku {sku!r}")
    return found


def position_view(state: Any, code: str) -> dict[str, Any]:
    return {"location": code, "on_hand": state.on_hand, "reserved": state.reserved,
            "safety_stock": state.safety_stock, "available": state.available, "inbound": state.inbound}


def stock_of_product(stock: StockContext, sku: str, min_seq: int | None = None) -> dict[str, Any]:
    """Every location's position of one product, from the in-memory view."""
    product_id = _product_id(stock, sku)
    _await(stock, min_seq)
    as_of = stock.view.as_of_seq
    positions = stock.view.positions_of_products([product_id])
    sites = stock.catalog.sites(including={p.location_id for p in positions})
    return {"sku": sku, "as_of_seq": as_of, "locations": [
        position_view(p, sites[p.location_id].code) for p in positions if p.location_id in sites]}


def channel_sites(stock: StockContext, channel: str, location: str | None) -> tuple[int | None, list[int]]:
    """(the location's id or None, the locations whose stock counts) for a request through
    ``channel``, at ``location`` if given. Availability and recommendations both ask this,
    so they agree: an unknown location is 404, one that does not serve the channel 422
    naming both, and a store needs its location."""
    location_id = None
    if location is not None:
        location_id = stock.catalog.location_id(location)
        if location_id is None:
            raise NotFound(f"no location with code {location!r}")
        site = stock.catalog.sites(including={location_id}).get(location_id)
        if site is None or channel not in site.channels:
            raise InvalidInput(f"location {location!r} does not serve channel {channel!r}",
                               {"location": [f"{location!r} does not serve channel {channel!r}"]})
        return location_id, [location_id]
    if channel == "store":
        raise InvalidInput("a store needs a location", {"location": ["required when channel is 'store'"]})
    return None, [site.location_id for site in stock.catalog.sites().values() if channel in site.channels]


def availability(stock: StockContext, items: Sequence[tuple[str, int]], channel: str,
                 location: str | None = None, min_seq: int | None = None,
                 today: dt.date | None = None) -> list[dict[str, Any]]:
    """Available-to-promise for many (sku, quantity) at once; offers and campaigns call
    this directly, the API for one or many. An unknown sku is answered as unavailable,
    with an ``error`` naming it."""
    at_location, _ = channel_sites(stock, channel, location)
    _await(stock, min_seq)
    as_of = stock.view.as_of_seq
    ids = stock.catalog.product_ids(sku for sku, _ in items)
    by_product: dict[int, list[Any]] = {}
    for state in stock.view.positions_of_products(ids.values()):
        by_product.setdefault(state.product_id, []).append(state)
    sites = stock.catalog.sites(including={p.location_id for states in by_product.values() for p in states})
    today = today or _utcnow().date()
    answers = []
    for sku, quantity in items:
        site_stock = [
            atp.SiteStock(sites[p.location_id], p.available,
                          tuple(stock.view.next_inbound(p.product_id, p.location_id)))
            for p in by_product.get(ids.get(sku, -1), []) if p.location_id in sites
        ]
        if channel != "store" and at_location is not None:
            site_stock = [s for s in site_stock if s.site.location_id == at_location]
        answer = atp.promise(quantity, channel, site_stock, today, at_location if channel == "store" else None)
        answers.append({"sku": sku, "quantity": quantity, "channel": channel, "location": location,
                        "available_now": answer.available_now, "quantity_now": answer.quantity_now,
                        "promise_date": answer.promise_date, "source_location": answer.source_location,
                        "as_of_seq": as_of})
        if sku not in ids:
            answers[-1]["error"] = f"no product with sku {sku!r}"
    return answers


def availability_of(stock: StockContext, sku: str, quantity: int, channel: str, location: str | None = None,
                    min_seq: int | None = None) -> dict[str, Any]:
    """Available-to-promise for one sku; an unknown sku is not found (404)."""
    _product_id(stock, sku)
    return availability(stock, [(sku, quantity)], channel, location, min_seq)[0]


def low_stock(uow: UnitOfWork, stock: StockContext, location: str, *, threshold: int | None = None,
              cover_days: float | None = None, velocity_days: int = 28, after: str | None = None,
              limit: int = 100, min_seq: int | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Positions at a location whose available stock is at or under their threshold.

    The threshold is absolute (``threshold``, by default the configured low-stock level)
    or, with ``cover_days``, that many days of recent sales (sale events over the last
    ``velocity_days`` days, per day).
    """
    location_id = stock.catalog.location_id(location)
    if location_id is None:
        raise NotFound(f"no location with code {location!r}")
    _await(stock, min_seq)
    as_of = stock.view.as_of_seq
    positions = stock.view.positions_at_location(location_id)
    velocity: dict[int, float] = {}
    if cover_days is not None:
        since = (now or _utcnow()) - dt.timedelta(days=velocity_days)
        with uow:
            sold = StockRepository(uow.session).sales_since(location_id, since)
        velocity = {product_id: quantity / velocity_days for product_id, quantity in sold.items()}
    low = []
    for p in positions:
        if cover_days is not None:
            daily = velocity.get(p.product_id, 0.0)
            if daily <= 0 or p.available > daily * cover_days:
                continue
            level: float = daily * cover_days
        else:
            level = stock.low_stock_threshold if threshold is None else threshold
            if p.available > level:
                continue
        low.append((stock.catalog.sku(p.product_id) or "", p, level))
    low.sort(key=lambda entry: entry[0])
    rows = [entry for entry in low if after is None or entry[0] > after][:limit + 1]
    page = page_of(rows, limit, key=lambda entry: entry[0], view=lambda entry: {
        "sku": entry[0], **position_view(entry[1], location), "threshold": round(entry[2], 2),
        "daily_sales": round(velocity.get(entry[1].product_id, 0.0), 3) if cover_days is not None else None})
    return {"location": location, "as_of_seq": as_of, "page": page}


def set_safety_stock(uow: UnitOfWork, stock: StockContext, items: Sequence[dict[str, Any]],
                     now: dt.datetime | None = None) -> dict[str, Any]:
    """Bulk-set safety stock: written as safety_stock events, so the log stays complete."""
    errors = repeated_key_errors([{"position": (i["sku"], i["location"])} for i in items], "position")
    if errors:
        raise InvalidInput("the batch names the same position more than once", errors)
    now = now or _utcnow()
    events = [{"event_id": f"safety:{uuid.uuid4().hex}", "sku": item["sku"], "location": item["location"],
               "type": "safety_stock", "quantity": item["safety_stock"], "occurred_at": now} for item in items]
    return ingest_events(uow, stock, events, now)


# --- the positions table -------------------------------------------------------------------

def bring_positions_forward(uow: UnitOfWork) -> dict[str, int]:
    """Write every logged event into the positions table now (on SQLite it trails the log
    by up to ``stock_positions_lag`` events), e.g. before reading the table with SQL."""
    with uow:
        repo = StockRepository(uow.session)
        added = repo.bring_positions_forward()
        head, _ = repo.sequence_heads()
        uow.commit()
    return {"events_added": added, "positions_seq": head}


# --- verifying ----------------------------------------------------------------------------

def verify(uow: UnitOfWork, stock: StockContext | None = None, attempts: int = 20) -> dict[str, Any]:
    """Compare the log replayed, the positions table and (given ``stock``) this process's view.

    Every logged event is also read as followers read it; those that cannot be read as
    they are (written by hand or by an older version) are listed under ``unreadable``.
    The table is compared with the log's trailing events added (on SQLite it trails the
    log by up to ``stock_positions_lag`` events): the sum equals the replay exactly when
    the table holds the log up to its ``positions_seq``. Differences are listed as
    {product_id, location_id, expected, found} with columns (on_hand, reserved,
    safety_stock, inbound).
    """
    with uow:
        repo = StockRepository(uow.session)
        if repo.postgres:
            uow.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        seq, positions_seq = repo.sequence_heads()
        table = repo.current_positions()
        replayed = repo.replay_log()
        anomalies = repo.anomaly_count()
        unreadable_count, unreadable = repo.unreadable_events()
    report: dict[str, Any] = {
        "as_of_seq": seq,
        "positions_seq": positions_seq,
        "positions": len(table),
        "negative_on_hand": sum(1 for row in table.values() if row[0] < 0),
        "anomalies": anomalies,
        "log_vs_table": _differences(replayed, table),
        # Events a follower cannot read as they are (it applies their deltas and goes on).
        "unreadable_events": unreadable_count,
        "unreadable": [problem.as_dict() for problem in unreadable],
    }
    if stock is not None:
        stock.follower.wait_for(seq, stock.max_wait_seconds)
        view_seq, view = stock.view.all_positions()
        if view_seq != seq and attempts > 1:
            return verify(uow, stock, attempts - 1)  # the log moved on meanwhile: compare afresh
        report["view_as_of_seq"] = view_seq
        report["view_vs_table"] = _differences(table, view) if view_seq == seq else None
    report["ok"] = (not report["log_vs_table"] and not unreadable_count
                    and (stock is None or report["view_vs_table"] == []))
    return report


def _differences(expected: dict[PositionKey, tuple[int, ...]], found: dict[PositionKey, tuple[int, ...]],
                 most: int = 100) -> list[dict[str, Any]]:
    zero = (0, 0, 0, 0)
    differences = []
    for key in sorted(set(expected) | set(found)):
        if tuple(expected.get(key, zero)) != tuple(found.get(key, zero)):
            differences.append({"product_id": key[0], "location_id": key[1],
                                "expected": list(expected.get(key, zero)), "found": list(found.get(key, zero))})
            if len(differences) >= most:
                break
    return differences
