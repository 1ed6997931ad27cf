"""The stock rules (decide, crossings) and available-to-promise, as plain Python."""
from __future__ import annotations

import datetime as dt

import pytest

from promo.domain.availability import Promise, Site, SiteStock, promise
from promo.domain.stock import (
    Deltas,
    EventType,
    Position,
    Refusal,
    Reservation,
    StockEventInput,
    StockSignal,
    crossings,
    decide,
)

NOW = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
LATER = NOW + dt.timedelta(hours=1)
EARLIER = NOW - dt.timedelta(hours=1)
PRODUCT, STORE, OTHER_STORE = 7, 1, 2


def event(kind: str, quantity: int = 0, *, reservation_id: str | None = None, expires_at: dt.datetime | None = None,
          product_id: int = PRODUCT, location_id: int = STORE, event_id: str = "e1") -> StockEventInput:
    return StockEventInput(event_id, product_id, location_id, EventType(kind), quantity, reservation_id, expires_at)


def open_reservation(reservation_id: str = "r1", quantity: int = 3, expires_at: dt.datetime | None = None,
                     location_id: int = STORE, state: str = "open") -> Reservation:
    return Reservation(reservation_id, PRODUCT, location_id, quantity, expires_at, state)


# --- facts ------------------------------------------------------------------------------

def test_a_sale_takes_units_off_the_shelf():
    position = Position(on_hand=10)

    outcome = decide(event("sale", 4), position, {}, NOW)

    assert outcome.applied and outcome.deltas == Deltas(on_hand=-4)
    assert position.on_hand == 6
    assert not outcome.anomaly


def test_a_receipt_adds_units_and_uses_up_expected_inbound():
    position = Position(on_hand=2, inbound=5)

    outcome = decide(event("receipt", 8), position, {}, NOW)

    assert outcome.deltas == Deltas(on_hand=8, inbound=-5)
    assert (position.on_hand, position.inbound) == (10, 0)


def test_a_receipt_smaller_than_the_inbound_leaves_the_rest_expected():
    position = Position(inbound=10)

    outcome = decide(event("receipt", 4), position, {}, NOW)

    assert outcome.deltas == Deltas(on_hand=4, inbound=-4)
    assert position.inbound == 6


def test_an_unexpected_receipt_touches_no_inbound():
    position = Position(on_hand=1)

    outcome = decide(event("receipt", 3), position, {}, NOW)

    assert outcome.deltas == Deltas(on_hand=3)
    assert position.inbound == 0


@pytest.mark.parametrize("quantity, expected", [(5, 15), (-3, 7)])
def test_an_adjustment_changes_on_hand_by_its_signed_quantity(quantity, expected):
    position = Position(on_hand=10)

    outcome = decide(event("adjustment", quantity), position, {}, NOW)

    assert outcome.deltas == Deltas(on_hand=quantity)
    assert position.on_hand == expected


def test_a_count_sets_on_hand_and_stores_the_implied_delta():
    position = Position(on_hand=7, reserved=2, safety_stock=1, inbound=4)

    outcome = decide(event("count", 3), position, {}, NOW)

    assert outcome.deltas == Deltas(on_hand=-4)
    assert position == Position(on_hand=3, reserved=2, safety_stock=1, inbound=4)


def test_a_count_of_a_negative_position_stores_a_positive_delta():
    position = Position(on_hand=-2)

    outcome = decide(event("count", 5), position, {}, NOW)

    assert outcome.deltas == Deltas(on_hand=7)
    assert position.on_hand == 5 and not outcome.anomaly


def test_an_inbound_notice_raises_expected_inbound_only():
    position = Position(on_hand=1)

    outcome = decide(event("inbound", 12), position, {}, NOW)

    assert outcome.deltas == Deltas(inbound=12)
    assert position == Position(on_hand=1, inbound=12)


def test_safety_stock_is_set_to_the_new_level_as_a_delta():
    position = Position(on_hand=10, safety_stock=4)

    outcome = decide(event("safety_stock", 1), position, {}, NOW)

    assert outcome.deltas == Deltas(safety_stock=-3)
    assert position.safety_stock == 1
    assert position.available == 9


# --- anomalies ----------------------------------------------------------------------------

def test_a_sale_that_takes_on_hand_below_zero_applies_and_is_flagged():
    position = Position(on_hand=2)

    outcome = decide(event("sale", 5), position, {}, NOW)

    assert outcome.applied and outcome.anomaly
    assert position.on_hand == -3
    assert position.available == 0


def test_a_negative_adjustment_below_zero_is_flagged():
    position = Position(on_hand=1)

    outcome = decide(event("adjustment", -4), position, {}, NOW)

    assert outcome.anomaly and position.on_hand == -3


def test_a_receipt_into_a_negative_position_is_not_an_anomaly():
    position = Position(on_hand=-5)

    outcome = decide(event("receipt", 2), position, {}, NOW)

    assert not outcome.anomaly and position.on_hand == -3


def test_a_sale_down_to_exactly_zero_is_not_an_anomaly():
    position = Position(on_hand=3)

    assert not decide(event("sale", 3), position, {}, NOW).anomaly


# --- reservations -------------------------------------------------------------------------

def test_a_reservation_within_available_holds_units():
    position = Position(on_hand=10, safety_stock=2)
    reservations: dict[str, Reservation] = {}

    outcome = decide(event("reserve", 8, reservation_id="r1", expires_at=LATER), position, reservations, NOW)

    assert outcome.applied and outcome.deltas == Deltas(reserved=8)
    assert position.reserved == 8 and position.available == 0
    assert reservations["r1"] == Reservation("r1", PRODUCT, STORE, 8, LATER, "open")


def test_a_reservation_over_available_is_refused_and_changes_nothing():
    position = Position(on_hand=10, reserved=3, safety_stock=2)
    reservations: dict[str, Reservation] = {}

    outcome = decide(event("reserve", 6, reservation_id="r1"), position, reservations, NOW)

    assert outcome.refusal is Refusal.INSUFFICIENT_STOCK and not outcome.applied
    assert outcome.deltas == Deltas()
    assert position == Position(on_hand=10, reserved=3, safety_stock=2)
    assert reservations == {}


def test_a_reservation_that_has_already_expired_on_arrival_is_refused():
    position = Position(on_hand=10)
    reservations: dict[str, Reservation] = {}

    outcome = decide(event("reserve", 1, reservation_id="r1", expires_at=EARLIER), position, reservations, NOW)

    assert outcome.refusal is Refusal.INSUFFICIENT_STOCK
    assert position.reserved == 0 and reservations == {}


def test_a_reservation_expiring_exactly_now_counts_as_expired_on_arrival():
    outcome = decide(event("reserve", 1, reservation_id="r1", expires_at=NOW), Position(on_hand=10), {}, NOW)

    assert outcome.refusal is Refusal.INSUFFICIENT_STOCK


def test_the_same_reservation_id_cannot_reserve_twice():
    position = Position(on_hand=10)
    reservations: dict[str, Reservation] = {}
    decide(event("reserve", 2, reservation_id="r1"), position, reservations, NOW)

    second = decide(event("reserve", 2, reservation_id="r1", event_id="e2"), position, reservations, NOW)

    assert second.refusal is Refusal.RESERVATION_EXISTS
    assert position.reserved == 2


def test_a_closed_reservation_id_cannot_be_reused_for_a_new_reserve():
    reservations = {"r1": open_reservation(state="released")}

    outcome = decide(event("reserve", 1, reservation_id="r1"), Position(on_hand=10), reservations, NOW)

    assert outcome.refusal is Refusal.RESERVATION_EXISTS


def test_a_release_gives_the_held_units_back():
    position = Position(on_hand=10, reserved=3)
    reservations = {"r1": open_reservation(quantity=3)}

    outcome = decide(event("release", reservation_id="r1"), position, reservations, NOW)

    assert outcome.applied and outcome.deltas == Deltas(reserved=-3)
    assert position.reserved == 0 and position.available == 10
    assert reservations["r1"].state == "released"


def test_a_release_of_a_released_reservation_is_refused_as_closed():
    position = Position(on_hand=10)
    reservations = {"r1": open_reservation(state="released")}

    outcome = decide(event("release", reservation_id="r1"), position, reservations, NOW)

    assert outcome.refusal is Refusal.RESERVATION_CLOSED
    assert position.reserved == 0


def test_a_release_of_a_consumed_reservation_is_refused_as_closed():
    outcome = decide(event("release", reservation_id="r1"), Position(on_hand=10),
                     {"r1": open_reservation(state="consumed")}, NOW)

    assert outcome.refusal is Refusal.RESERVATION_CLOSED


def test_a_release_of_an_unknown_reservation_is_refused():
    position = Position(on_hand=10, reserved=3)

    outcome = decide(event("release", reservation_id="nope"), position, {"r1": open_reservation()}, NOW)

    assert outcome.refusal is Refusal.UNKNOWN_RESERVATION
    assert position.reserved == 3


def test_a_release_at_another_position_is_refused_and_the_hold_stays():
    position = Position(on_hand=10)
    reservations = {"r1": open_reservation(location_id=OTHER_STORE)}

    outcome = decide(event("release", reservation_id="r1"), position, reservations, NOW)

    assert outcome.refusal is Refusal.RESERVATION_ELSEWHERE
    assert reservations["r1"].state == "open"


def test_a_sale_against_a_reservation_consumes_it():
    position = Position(on_hand=10, reserved=3)
    reservations = {"r1": open_reservation(quantity=3)}

    outcome = decide(event("sale", 3, reservation_id="r1"), position, reservations, NOW)

    assert outcome.deltas == Deltas(on_hand=-3, reserved=-3)
    assert (position.on_hand, position.reserved, position.available) == (7, 0, 7)
    assert reservations["r1"].state == "consumed"


def test_a_sale_against_an_unknown_reservation_still_takes_the_units():
    position = Position(on_hand=10, reserved=3)
    reservations = {"r1": open_reservation(quantity=3)}

    outcome = decide(event("sale", 2, reservation_id="other"), position, reservations, NOW)

    assert outcome.applied and outcome.deltas == Deltas(on_hand=-2)
    assert position.reserved == 3 and reservations["r1"].state == "open"


def test_expired_reservations_stop_counting_against_available():
    position = Position(on_hand=10, reserved=6, expired_reserved=4)

    assert position.effective_reserved == 2
    assert position.available == 8


def test_a_new_reservation_may_take_units_an_expired_one_still_holds():
    position = Position(on_hand=5, reserved=5, expired_reserved=5)
    reservations: dict[str, Reservation] = {}

    outcome = decide(event("reserve", 5, reservation_id="r2"), position, reservations, NOW)

    assert outcome.applied
    assert position.reserved == 10 and position.available == 0


def test_releasing_an_expired_reservation_does_not_give_its_units_back_twice():
    position = Position(on_hand=10, reserved=4, expired_reserved=4)
    reservations = {"r1": open_reservation(quantity=4, expires_at=EARLIER)}
    assert position.available == 10

    outcome = decide(event("release", reservation_id="r1"), position, reservations, NOW)

    assert outcome.deltas == Deltas(reserved=-4)
    assert (position.reserved, position.expired_reserved, position.available) == (0, 0, 10)


def test_a_sale_against_an_expired_reservation_still_consumes_it_once():
    position = Position(on_hand=10, reserved=4, expired_reserved=4)
    reservations = {"r1": open_reservation(quantity=4, expires_at=EARLIER)}

    decide(event("sale", 4, reservation_id="r1"), position, reservations, NOW)

    assert (position.on_hand, position.reserved, position.expired_reserved, position.available) == (6, 0, 0, 6)


def test_available_is_never_negative():
    assert Position(on_hand=2, reserved=5, safety_stock=1).available == 0


def test_a_reservation_knows_when_it_has_expired():
    assert open_reservation(expires_at=NOW).expired(NOW)
    assert not open_reservation(expires_at=LATER).expired(NOW)
    assert not open_reservation(expires_at=None).expired(NOW)


# --- crossings ----------------------------------------------------------------------------

def test_selling_the_last_unit_raises_out_of_stock():
    assert crossings(Position(on_hand=1), Position(on_hand=0), low_at=5) == [StockSignal.OUT_OF_STOCK]


def test_restocking_an_empty_position_raises_back_in_stock():
    assert crossings(Position(on_hand=0), Position(on_hand=50), low_at=5) == [StockSignal.BACK_IN_STOCK]


def test_restocking_only_a_little_raises_back_in_stock_and_low_stock():
    assert crossings(Position(on_hand=-2), Position(on_hand=3), low_at=5) == [
        StockSignal.BACK_IN_STOCK, StockSignal.LOW_STOCK]


def test_falling_to_the_low_line_raises_low_stock():
    assert crossings(Position(on_hand=9), Position(on_hand=5), low_at=5) == [StockSignal.LOW_STOCK]


def test_moving_within_the_low_band_raises_nothing_again():
    assert crossings(Position(on_hand=4), Position(on_hand=2), low_at=5) == []


def test_moving_above_the_low_line_raises_nothing():
    assert crossings(Position(on_hand=20), Position(on_hand=10), low_at=5) == []


def test_a_reservation_taking_the_last_available_units_raises_out_of_stock():
    assert crossings(Position(on_hand=3), Position(on_hand=3, reserved=3), low_at=1) == [StockSignal.OUT_OF_STOCK]


# --- available to promise -----------------------------------------------------------------

TODAY = dt.date(2024, 3, 1)
S1 = Site(1, "S1", frozenset({"store"}), 0)
S2 = Site(2, "S2", frozenset({"store"}), 1)
DC = Site(3, "DC", frozenset({"web", "mobile"}), 2)
S3 = Site(4, "S3", frozenset({"store", "web"}), 0)


def at(site: Site, available: int, *inbound: tuple[dt.datetime, int]) -> SiteStock:
    return SiteStock(site, available, tuple(inbound))


def eta(day: int) -> dt.datetime:
    return dt.datetime(2024, 3, day, 9, 0, tzinfo=dt.timezone.utc)


def test_a_store_with_enough_on_its_shelf_promises_today():
    answer = promise(3, "store", [at(S1, 5), at(S2, 100)], TODAY, at_location=1)

    assert answer == Promise(True, 5, TODAY, "S1")


def test_a_short_store_promises_from_another_location_after_its_lead_time():
    answer = promise(3, "store", [at(S1, 1), at(S2, 10)], TODAY, at_location=1)

    assert answer == Promise(False, 1, TODAY + dt.timedelta(days=1), "S2")


def test_a_short_store_ignores_other_locations_that_cannot_cover_it_all():
    answer = promise(3, "store", [at(S1, 1), at(S2, 2)], TODAY, at_location=1)

    assert answer == Promise(False, 1, None, None)


def test_a_short_store_promises_its_next_inbound_receipt():
    answer = promise(5, "store", [at(S1, 2, (eta(4), 1), (eta(6), 2), (eta(9), 10))], TODAY, at_location=1)

    # 2 on the shelf; 3 short; 1 arrives on the 4th, 2 more on the 6th.
    assert answer == Promise(False, 2, dt.date(2024, 3, 6), "S1")


def test_a_short_store_takes_inbound_when_it_comes_before_another_location_can_ship():
    far = Site(5, "FAR", frozenset({"store"}), 5)

    answer = promise(5, "store", [at(S1, 0, (eta(3), 5)), at(far, 5)], TODAY, at_location=1)

    assert answer == Promise(False, 0, dt.date(2024, 3, 3), "S1")


def test_a_short_store_takes_another_location_when_it_ships_before_inbound_arrives():
    answer = promise(5, "store", [at(S1, 0, (eta(8), 5)), at(S2, 5)], TODAY, at_location=1)

    assert answer == Promise(False, 0, dt.date(2024, 3, 2), "S2")


def test_a_store_without_a_position_of_its_own_can_still_be_served_from_elsewhere():
    answer = promise(2, "store", [at(S2, 4)], TODAY, at_location=1)

    assert answer == Promise(False, 0, TODAY + dt.timedelta(days=1), "S2")


def test_the_web_sums_every_location_serving_it():
    stock = [at(DC, 3), at(S3, 4), at(S1, 100)]

    answer = promise(7, "web", stock, TODAY)

    assert answer == Promise(True, 7, TODAY, "S3")


def test_the_web_ignores_locations_that_do_not_serve_it():
    answer = promise(8, "web", [at(DC, 3), at(S3, 4), at(S1, 100)], TODAY)

    assert (answer.available_now, answer.quantity_now, answer.promise_date) == (False, 7, None)


def test_the_web_promises_the_inbound_that_covers_the_shortfall_plus_lead_time():
    stock = [at(DC, 3, (eta(5), 4)), at(S3, 1, (eta(3), 1))]

    answer = promise(8, "web", stock, TODAY)

    # 4 now; the 3rd brings 1 (S3), the 5th brings 4 more at DC, which ships in 2 days.
    assert answer == Promise(False, 4, dt.date(2024, 3, 7), "DC")


def test_mobile_is_served_by_the_locations_listing_mobile():
    answer = promise(2, "mobile", [at(DC, 2), at(S3, 50)], TODAY)

    assert answer == Promise(True, 2, TODAY, "DC")


def test_nothing_on_hand_nothing_inbound_and_nowhere_else_promises_no_date():
    assert promise(1, "store", [at(S1, 0)], TODAY, at_location=1) == Promise(False, 0, None, None)
    assert promise(1, "web", [at(DC, 0)], TODAY) == Promise(False, 0, None, None)
    assert promise(1, "web", [], TODAY) == Promise(False, 0, None, None)


def test_inbound_that_never_covers_the_shortfall_promises_no_date():
    answer = promise(10, "web", [at(DC, 2, (eta(3), 3))], TODAY)

    assert answer == Promise(False, 2, None, None)


# --- inbound by id ------------------------------------------------------------------------

def named_receipt(quantity: int, inbound_id: str = "n1", location_id: int = STORE) -> StockEventInput:
    return StockEventInput("g1", PRODUCT, location_id, EventType.RECEIPT, quantity, inbound_id=inbound_id)


def inbound_notice(quantity: int, event_id: str = "n1", location_id: int = STORE) -> StockEventInput:
    return StockEventInput(event_id, PRODUCT, location_id, EventType.INBOUND, quantity, eta=LATER)


def test_a_named_receipt_before_or_after_its_notice_leaves_the_same_pending_inbound():
    finals = []
    for order in ((inbound_notice(5), named_receipt(3)), (named_receipt(3), inbound_notice(5))):
        position, inbounds = Position(), {}
        for item in order:
            assert decide(item, position, {}, NOW, inbounds).applied
        finals.append((position, inbounds["n1"].pending))

    assert finals[0] == finals[1] == (Position(on_hand=3, inbound=2), 2)


def test_a_named_receipt_larger_than_its_inbound_uses_up_only_that_inbound():
    position, inbounds = Position(), {}
    decide(inbound_notice(4, event_id="a"), position, {}, NOW, inbounds)
    decide(inbound_notice(6, event_id="b"), position, {}, NOW, inbounds)

    outcome = decide(named_receipt(10, inbound_id="a"), position, {}, NOW, inbounds)

    assert outcome.deltas == Deltas(on_hand=10, inbound=-4)
    assert position == Position(on_hand=10, inbound=6)
    assert inbounds["b"].pending == 6


def test_an_inbound_notice_for_an_id_received_at_another_position_is_refused():
    inbounds: dict = {}
    decide(named_receipt(2, location_id=OTHER_STORE), Position(), {}, NOW, inbounds)

    outcome = decide(inbound_notice(5), Position(), {}, NOW, inbounds)

    assert outcome.refusal is Refusal.INBOUND_ELSEWHERE
