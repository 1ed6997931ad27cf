"""Stock rules: how each stock event changes a position, and what "available" means.

Facts (sale, receipt, adjustment, count) always apply, even when on-hand goes below zero,
which is then flagged as an anomaly; the one exception is a fact that would take a level
past MAX_LEVEL, which no column could hold (refused, level_out_of_range). Requests (reserve, release) are checked and may be
refused with a reason code. Every applied event records the deltas it caused, so the
positions are always the sum of the log's deltas, whatever order events arrived in.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import NamedTuple


class EventType(str, enum.Enum):
    SALE = "sale"
    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    RESERVE = "reserve"
    RELEASE = "release"
    INBOUND = "inbound"
    SAFETY_STOCK = "safety_stock"


FACTS = frozenset({EventType.SALE, EventType.RECEIPT, EventType.ADJUSTMENT, EventType.COUNT})

# The bounds every stock figure stays within. An event moves at most MAX_EVENT_QUANTITY
# units; each level of a position (on hand, reserved, safety stock, inbound) stays within
# plus or minus MAX_LEVEL, so that every level and every delta fits a 32-bit column in the
# database and in each process's view, however many events arrive.
MAX_EVENT_QUANTITY = 100_000_000
MAX_LEVEL = 1_000_000_000


class Refusal(str, enum.Enum):
    """Why a request event was refused (stable codes, returned to clients)."""

    INSUFFICIENT_STOCK = "insufficient_stock"
    RESERVATION_EXISTS = "reservation_exists"
    UNKNOWN_RESERVATION = "unknown_reservation"
    RESERVATION_CLOSED = "reservation_closed"
    RESERVATION_ELSEWHERE = "reservation_elsewhere"
    INBOUND_ELSEWHERE = "inbound_elsewhere"
    # The one refusal a fact can get: applying it would take a level past MAX_LEVEL.
    LEVEL_OUT_OF_RANGE = "level_out_of_range"


class StockSignal(str, enum.Enum):
    """Domain events raised when availability crosses a line (after commit)."""

    OUT_OF_STOCK = "out_of_stock"
    BACK_IN_STOCK = "back_in_stock"
    LOW_STOCK = "low_stock"


@dataclasses.dataclass(slots=True)
class Position:
    """One product at one location. ``reserved`` counts every open reservation,
    including expired ones; ``expired_reserved`` is the part of it past its expiry."""

    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    inbound: int = 0
    expired_reserved: int = 0

    def copy(self) -> "Position":
        return Position(self.on_hand, self.reserved, self.safety_stock, self.inbound, self.expired_reserved)

    @property
    def effective_reserved(self) -> int:
        return self.reserved - self.expired_reserved

    @property
    def available(self) -> int:
        """What can still be promised: never negative."""
        return max(0, self.on_hand - self.effective_reserved - self.safety_stock)


@dataclasses.dataclass(slots=True)
class Reservation:
    reservation_id: str
    product_id: int
    location_id: int
    quantity: int
    expires_at: dt.datetime | None
    state: str = "open"  # open | released | consumed

    def expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclasses.dataclass(slots=True)
class Inbound:
    """An expected receipt, known by the event_id of its `inbound` notice.

    Receipts that name it (``inbound_id``) count as ``received`` whether they arrive
    before or after the notice, so the pending quantity ends the same in any order.
    """

    inbound_id: str
    product_id: int
    location_id: int
    quantity: int = 0            # announced; 0 until the notice arrives
    received: int = 0
    eta: dt.datetime | None = None

    @property
    def pending(self) -> int:
        return max(0, self.quantity - self.received)


@dataclasses.dataclass(slots=True)
class Deltas:
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    inbound: int = 0

    def apply_to(self, position: Position) -> None:
        position.on_hand += self.on_hand
        position.reserved += self.reserved
        position.safety_stock += self.safety_stock
        position.inbound += self.inbound


@dataclasses.dataclass(slots=True)
class Outcome:
    deltas: Deltas
    refusal: Refusal | None = None
    anomaly: bool = False

    @property
    def applied(self) -> bool:
        return self.refusal is None


class StockEventInput(NamedTuple):
    """A validated stock event as the domain sees it (ids already resolved). A named
    tuple: immutable like a frozen dataclass, and built ten times faster, which counts at
    tens of thousands of events a second."""

    event_id: str
    product_id: int
    location_id: int
    type: EventType
    quantity: int
    reservation_id: str | None = None
    expires_at: dt.datetime | None = None
    inbound_id: str | None = None        # a receipt's expected receipt
    eta: dt.datetime | None = None


def decide(event: StockEventInput, position: Position, reservations: dict[str, Reservation],
           now: dt.datetime, inbounds: dict[str, Inbound] | None = None) -> Outcome:
    """The outcome of one event on ``position``; mutates position, reservations, inbounds.

    ``reservations`` and ``inbounds`` hold those this batch may touch, by id; events add
    to them. ``now`` decides which reservations have expired.
    """
    inbounds = {} if inbounds is None else inbounds
    kind = event.type
    if _would_leave_bounds(event, position):
        return Outcome(Deltas(), Refusal.LEVEL_OUT_OF_RANGE)
    if kind is EventType.SALE and event.reservation_id:
        outcome = _consume_reservation(event, position, reservations, now)
    elif kind is EventType.SALE:
        outcome = Outcome(Deltas(on_hand=-event.quantity))
    elif kind is EventType.RECEIPT and event.inbound_id:
        outcome = _receive_named(event, inbounds)
    elif kind is EventType.RECEIPT:
        # An unnamed receipt is taken for what was expected: it uses up inbound, earliest
        # ETA first (naming the inbound_id makes the outcome independent of arrival order).
        outcome = Outcome(Deltas(on_hand=event.quantity, inbound=-min(event.quantity, max(position.inbound, 0))))
    elif kind is EventType.ADJUSTMENT:
        outcome = Outcome(Deltas(on_hand=event.quantity))
    elif kind is EventType.COUNT:
        outcome = Outcome(Deltas(on_hand=event.quantity - position.on_hand))
    elif kind is EventType.INBOUND:
        outcome = _announce(event, inbounds)
    elif kind is EventType.SAFETY_STOCK:
        outcome = Outcome(Deltas(safety_stock=event.quantity - position.safety_stock))
    elif kind is EventType.RESERVE:
        outcome = _reserve(event, position, reservations, now)
    else:
        outcome = _release(event, position, reservations, now)
    if outcome.applied:
        outcome.deltas.apply_to(position)
        # A fact that takes on-hand below zero means the records were wrong somewhere.
        outcome.anomaly = position.on_hand < 0 and outcome.deltas.on_hand < 0
    return outcome


def _would_leave_bounds(event: StockEventInput, position: Position) -> bool:
    """Whether the event could take a level of the position past MAX_LEVEL.

    Counts and safety stock set a level no larger than an event's quantity, and releases
    only lower one; an inbound notice adds at most its quantity to what is expected.
    """
    kind, quantity = event.type, event.quantity
    if kind is EventType.SALE:
        return position.on_hand - quantity < -MAX_LEVEL
    if kind is EventType.RECEIPT or kind is EventType.ADJUSTMENT:
        return not -MAX_LEVEL <= position.on_hand + quantity <= MAX_LEVEL
    if kind is EventType.INBOUND:
        return position.inbound + quantity > MAX_LEVEL
    if kind is EventType.RESERVE:
        return position.reserved + quantity > MAX_LEVEL
    return False


def _inbound_here(event: StockEventInput, inbound_id: str, inbounds: dict[str, Inbound]) -> Inbound | None:
    """The inbound by id, created empty if new; None if it belongs to another position."""
    found = inbounds.setdefault(inbound_id, Inbound(inbound_id, event.product_id, event.location_id))
    return found if (found.product_id, found.location_id) == (event.product_id, event.location_id) else None


def _announce(event: StockEventInput, inbounds: dict[str, Inbound]) -> Outcome:
    inbound = _inbound_here(event, event.event_id, inbounds)
    if inbound is None:
        return Outcome(Deltas(), Refusal.INBOUND_ELSEWHERE)
    before = inbound.pending
    inbound.quantity, inbound.eta = event.quantity, event.eta
    return Outcome(Deltas(inbound=inbound.pending - before))


def _receive_named(event: StockEventInput, inbounds: dict[str, Inbound]) -> Outcome:
    assert event.inbound_id
    inbound = _inbound_here(event, event.inbound_id, inbounds)
    if inbound is None:  # the goods arrived all the same; the other position's inbound stays
        return Outcome(Deltas(on_hand=event.quantity))
    before = inbound.pending
    inbound.received += event.quantity
    return Outcome(Deltas(on_hand=event.quantity, inbound=inbound.pending - before))


def _reserve(event: StockEventInput, position: Position, reservations: dict[str, Reservation],
             now: dt.datetime) -> Outcome:
    assert event.reservation_id
    if event.reservation_id in reservations:
        return Outcome(Deltas(), Refusal.RESERVATION_EXISTS)
    if event.expires_at is not None and event.expires_at <= now:
        # Expired on arrival: it would never count, so it cannot hold anything.
        return Outcome(Deltas(), Refusal.INSUFFICIENT_STOCK)
    if event.quantity > position.available:
        return Outcome(Deltas(), Refusal.INSUFFICIENT_STOCK)
    reservations[event.reservation_id] = Reservation(
        event.reservation_id, event.product_id, event.location_id, event.quantity, event.expires_at)
    return Outcome(Deltas(reserved=event.quantity))


def _open_reservation_here(event: StockEventInput, reservations: dict[str, Reservation]) -> Reservation | Refusal:
    reservation = reservations.get(event.reservation_id or "")
    if reservation is None:
        return Refusal.UNKNOWN_RESERVATION
    if (reservation.product_id, reservation.location_id) != (event.product_id, event.location_id):
        return Refusal.RESERVATION_ELSEWHERE
    if reservation.state != "open":
        return Refusal.RESERVATION_CLOSED
    return reservation


def _close(reservation: Reservation, position: Position, now: dt.datetime, state: str) -> None:
    if reservation.expired(now):
        position.expired_reserved -= reservation.quantity
    reservation.state = state


def _release(event: StockEventInput, position: Position, reservations: dict[str, Reservation],
             now: dt.datetime) -> Outcome:
    found = _open_reservation_here(event, reservations)
    if isinstance(found, Refusal):
        return Outcome(Deltas(), found)
    _close(found, position, now, "released")
    return Outcome(Deltas(reserved=-found.quantity))


def _consume_reservation(event: StockEventInput, position: Position, reservations: dict[str, Reservation],
                         now: dt.datetime) -> Outcome:
    """A sale that fulfils a reservation: the goods leave and the hold ends."""
    found = _open_reservation_here(event, reservations)
    if isinstance(found, Refusal):
        # The sale happened all the same: a fact applies, only the hold stays as it was.
        return Outcome(Deltas(on_hand=-event.quantity))
    _close(found, position, now, "consumed")
    return Outcome(Deltas(on_hand=-event.quantity, reserved=-found.quantity))


def crossings(before: Position, after: Position, low_at: int) -> list[StockSignal]:
    """The signals a change from ``before`` to ``after`` raises (available stock only)."""
    was, now = before.available, after.available
    if was > 0 and now == 0:
        return [StockSignal.OUT_OF_STOCK]
    if was == 0 and now > 0:
        return [StockSignal.BACK_IN_STOCK] + ([StockSignal.LOW_STOCK] if now <= low_at else [])
    if was > low_at >= now > 0:
        return [StockSignal.LOW_STOCK]
    return []
