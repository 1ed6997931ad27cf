"""The in-memory stock view: loading a snapshot, applying logged events, reading."""
from __future__ import annotations

import datetime as dt

import numpy as np

from promo.adapters.stock_log import LogRow
from promo.adapters.stock_view import MERGE_THRESHOLD, PositionState, StockView

NOW = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


def arrays(*positions: tuple[int, int, int, int, int, int]) -> dict[str, np.ndarray]:
    """Snapshot columns from (product, location, on_hand, reserved, safety_stock, inbound) rows."""
    table = np.array(positions, dtype=np.int64).reshape(-1, 6)
    return {name: table[:, i] for i, name in
            enumerate(("product_id", "location_id", "on_hand", "reserved", "safety_stock", "inbound"))}


def row(seq: int, product_id: int, location_id: int, kind: str, quantity: int, *, on_hand: int = 0,
        reserved: int = 0, safety_stock: int = 0, inbound: int = 0, reservation_id: str | None = None,
        expires_at: dt.datetime | None = None, eta: dt.datetime | None = None,
        refusal: str | None = None, inbound_id: str | None = None) -> LogRow:
    """A logged event (an inbound notice is its own id)."""
    if kind == "inbound" and inbound_id is None:
        inbound_id = f"n{seq}"
    return LogRow(seq, product_id, location_id, kind, quantity, reservation_id, expires_at, eta, refusal,
                  on_hand, reserved, safety_stock, inbound, inbound_id, f"e{seq}")


def loaded(*positions: tuple[int, int, int, int, int, int], reservations=(), inbound=(),
           as_of_seq: int = 10) -> StockView:
    view = StockView()
    view.load(arrays(*positions), reservations, inbound, as_of_seq)
    return view


def test_a_loaded_snapshot_answers_positions_and_its_sequence():
    view = loaded((1, 1, 10, 2, 1, 0), (1, 2, 5, 0, 0, 3), (2, 1, 0, 0, 0, 0), as_of_seq=42)

    assert view.as_of_seq == 42
    assert view.position(1, 1, now=NOW) == PositionState(1, 1, 10, 2, 1, 0)
    assert view.position(1, 1, now=NOW).available == 7
    assert view.position(1, 2, now=NOW) == PositionState(1, 2, 5, 0, 0, 3)
    assert view.size() == 3


def test_a_snapshot_loads_with_the_log_rows_the_table_does_not_hold_yet():
    trailing = np.array([[1, 1, 2, 1, 0, 0], [3, 1, 4, 0, 0, 5], [0, 9, 0, 0, 0, 0]], dtype=np.int64)
    view = StockView()
    view.load(arrays((1, 1, 10, 0, 0, 0), (2, 1, 7, 0, 0, 0)), (), (), 12, trailing=trailing)

    assert view.as_of_seq == 12
    assert view.all_positions() == (12, {(1, 1): (12, 1, 0, 0), (2, 1): (7, 0, 0, 0), (3, 1): (4, 0, 0, 5),
                                         (0, 9): (0, 0, 0, 0)})
    view.apply([row(13, 3, 1, "sale", 1, on_hand=-1)])     # a new position found as the others are
    assert view.position(3, 1, now=NOW) == PositionState(3, 1, 3, 0, 0, 5)


def test_an_unknown_position_reads_as_zero():
    view = loaded((1, 1, 10, 0, 0, 0))

    assert view.position(9, 9, now=NOW) == PositionState(9, 9, 0, 0, 0, 0)


def test_loading_an_unsorted_snapshot_still_finds_every_position():
    view = loaded((5, 1, 50, 0, 0, 0), (1, 3, 13, 0, 0, 0), (3, 2, 32, 0, 0, 0), (1, 1, 11, 0, 0, 0))

    assert [view.position(p, l, now=NOW).on_hand for p, l in ((1, 1), (1, 3), (3, 2), (5, 1))] == [11, 13, 32, 50]


def test_applied_events_add_their_deltas_and_advance_the_sequence():
    view = loaded((1, 1, 10, 0, 0, 0), as_of_seq=10)

    view.apply([row(11, 1, 1, "sale", 3, on_hand=-3),
                row(12, 1, 1, "safety_stock", 2, safety_stock=2),
                row(13, 1, 1, "adjustment", 1, on_hand=1)])

    assert view.as_of_seq == 13
    assert view.position(1, 1, now=NOW) == PositionState(1, 1, 8, 0, 2, 0)


def test_refused_events_advance_the_sequence_but_change_nothing():
    view = loaded((1, 1, 1, 0, 0, 0), as_of_seq=10)

    view.apply([row(11, 1, 1, "reserve", 5, reserved=0, reservation_id="r1", refusal="insufficient_stock")])

    assert view.as_of_seq == 11
    assert view.position(1, 1, now=NOW) == PositionState(1, 1, 1, 0, 0, 0)
    assert view.all_positions()[1] == {(1, 1): (1, 0, 0, 0)}


def test_a_position_first_seen_after_the_load_is_visible_at_once():
    view = loaded((1, 1, 10, 0, 0, 0))

    view.apply([row(11, 2, 1, "receipt", 4, on_hand=4), row(12, 1, 2, "receipt", 6, on_hand=6)])

    assert view.position(2, 1, now=NOW).on_hand == 4
    assert view.position(1, 2, now=NOW).on_hand == 6
    assert [(p.product_id, p.location_id, p.on_hand) for p in view.positions_of_products([1, 2], now=NOW)] == [
        (1, 1, 10), (1, 2, 6), (2, 1, 4)]
    assert [(p.product_id, p.on_hand) for p in view.positions_at_location(1, now=NOW)] == [(1, 10), (2, 4)]
    assert view.all_positions() == (12, {(1, 1): (10, 0, 0, 0), (1, 2): (6, 0, 0, 0), (2, 1): (4, 0, 0, 0)})
    assert view.size() == 3


def test_new_positions_survive_the_merge_into_the_arrays_with_their_values():
    # Loaded products are even, new ones odd: the merge must interleave them in key order.
    view = loaded(*[(2 * p, 1, p, 0, 0, 0) for p in range(1, 101)], as_of_seq=0)
    count = MERGE_THRESHOLD + 10
    view.apply([row(i + 1, 2 * i + 1, 1 + i % 3, "receipt", i + 1, on_hand=i + 1) for i in range(count)])

    assert not view._recent, "applying more than MERGE_THRESHOLD new positions merges them into the arrays"
    assert view.size() == 100 + count
    assert view.as_of_seq == count
    assert all(view.position(2 * i + 1, 1 + i % 3, now=NOW).on_hand == i + 1 for i in range(count))
    assert all(view.position(2 * p, 1, now=NOW).on_hand == p for p in range(1, 101))
    # After the merge, further deltas land on the merged rows, not on new ones.
    view.apply([row(count + 1, 7, 1, "sale", 2, on_hand=-2), row(count + 2, 8, 1, "sale", 1, on_hand=-1)])
    assert view.position(7, 1, now=NOW).on_hand == 4 - 2
    assert view.position(8, 1, now=NOW).on_hand == 4 - 1
    assert view.size() == 100 + count
    seq, everything = view.all_positions()
    assert seq == count + 2 and len(everything) == 100 + count


def test_positions_of_products_lists_every_location_of_each_product_in_order():
    view = loaded((1, 1, 11, 0, 0, 0), (1, 3, 13, 0, 0, 0), (2, 1, 21, 0, 0, 0), (3, 2, 32, 0, 0, 0))
    view.apply([row(11, 1, 2, "receipt", 12, on_hand=12)])

    found = view.positions_of_products([3, 1, 1], now=NOW)

    assert [(p.product_id, p.location_id, p.on_hand) for p in found] == [(1, 1, 11), (1, 2, 12), (1, 3, 13), (3, 2, 32)]
    assert view.positions_of_products([99], now=NOW) == []


def test_positions_at_location_lists_every_product_stocked_there():
    view = loaded((1, 1, 11, 0, 0, 0), (1, 2, 12, 0, 0, 0), (2, 2, 22, 0, 0, 0))
    view.apply([row(11, 3, 2, "receipt", 32, on_hand=32)])

    assert [(p.product_id, p.on_hand) for p in view.positions_at_location(2, now=NOW)] == [(1, 12), (2, 22), (3, 32)]
    assert view.positions_at_location(7, now=NOW) == []


def test_a_reservation_stops_counting_once_it_expires_at_read_time():
    expires = NOW + dt.timedelta(minutes=5)
    view = loaded((1, 1, 10, 0, 0, 0), as_of_seq=10)
    view.apply([row(11, 1, 1, "reserve", 4, reserved=4, reservation_id="r1", expires_at=expires)])

    assert view.position(1, 1, now=NOW).reserved == 4
    assert view.position(1, 1, now=NOW).available == 6
    after = view.position(1, 1, now=expires + dt.timedelta(seconds=1))
    assert (after.reserved, after.available) == (0, 10)
    # The stored column still counts it until a release or sale closes it, as the table does.
    assert view.all_positions()[1][(1, 1)] == (10, 4, 0, 0)


def test_a_loaded_reservation_past_its_expiry_does_not_count():
    view = loaded((1, 1, 10, 7, 0, 0), reservations=[("r1", 1, 1, 3, NOW - dt.timedelta(seconds=1)),
                                                      ("r2", 1, 1, 4, None)])

    assert view.position(1, 1, now=NOW).reserved == 4
    assert [p.reserved for p in view.positions_of_products([1], now=NOW)] == [4]
    assert [p.reserved for p in view.positions_at_location(1, now=NOW)] == [4]


def test_releasing_an_expired_reservation_does_not_subtract_it_twice():
    expires = NOW + dt.timedelta(minutes=5)
    view = loaded((1, 1, 10, 0, 0, 0), as_of_seq=10)
    view.apply([row(11, 1, 1, "reserve", 4, reserved=4, reservation_id="r1", expires_at=expires),
                row(12, 1, 1, "reserve", 1, reserved=1, reservation_id="r2")])
    late = expires + dt.timedelta(seconds=1)
    assert view.position(1, 1, now=late).reserved == 1

    view.apply([row(13, 1, 1, "release", 0, reserved=-4, reservation_id="r1")])

    assert view.position(1, 1, now=late).reserved == 1
    assert view.position(1, 1, now=late + dt.timedelta(hours=1)).available == 9
    assert view.all_positions()[1][(1, 1)] == (10, 1, 0, 0)


def test_a_sale_consuming_an_expired_reservation_does_not_subtract_it_twice():
    view = loaded((1, 1, 10, 4, 0, 0), reservations=[("r1", 1, 1, 4, NOW - dt.timedelta(seconds=1))])
    assert view.position(1, 1, now=NOW).reserved == 0

    view.apply([row(11, 1, 1, "sale", 4, on_hand=-4, reserved=-4, reservation_id="r1")])

    assert view.position(1, 1, now=NOW) == PositionState(1, 1, 6, 0, 0, 0)


def test_a_reservation_released_before_it_expires_is_not_subtracted_when_its_time_comes():
    expires = NOW + dt.timedelta(minutes=5)
    view = loaded((1, 1, 10, 0, 0, 0))
    view.apply([row(11, 1, 1, "reserve", 4, reserved=4, reservation_id="r1", expires_at=expires),
                row(12, 1, 1, "release", 0, reserved=-4, reservation_id="r1")])

    assert view.position(1, 1, now=expires + dt.timedelta(seconds=1)).reserved == 0


def test_a_sale_naming_an_unknown_reservation_leaves_open_holds_alone():
    view = loaded((1, 1, 10, 0, 0, 0))
    view.apply([row(11, 1, 1, "reserve", 4, reserved=4, reservation_id="r1", expires_at=NOW + dt.timedelta(hours=1)),
                row(12, 1, 1, "sale", 1, on_hand=-1, reservation_id="other")])

    assert view.position(1, 1, now=NOW).reserved == 4
    assert view.position(1, 1, now=NOW + dt.timedelta(hours=2)).reserved == 0


def test_inbound_is_listed_by_eta_and_receipts_use_the_earliest_first():
    first, second, third = (NOW + dt.timedelta(days=d) for d in (1, 3, 5))
    view = loaded((1, 1, 0, 0, 0, 4), inbound=[(1, 1, second, 0, 4, "n0")])
    view.apply([row(11, 1, 1, "inbound", 6, inbound=6, eta=third),
                row(12, 1, 1, "inbound", 2, inbound=2, eta=first)])
    assert view.next_inbound(1, 1) == [(first, 2), (second, 4), (third, 6)]

    view.apply([row(13, 1, 1, "receipt", 3, on_hand=3, inbound=-3)])

    assert view.next_inbound(1, 1) == [(second, 3), (third, 6)]
    view.apply([row(14, 1, 1, "receipt", 20, on_hand=20, inbound=-9)])
    assert view.next_inbound(1, 1) == []
    assert view.position(1, 1, now=NOW) == PositionState(1, 1, 23, 0, 0, 0)


def test_inbound_of_one_position_is_not_listed_for_another():
    view = loaded((1, 1, 0, 0, 0, 4), inbound=[(1, 1, NOW, 0, 4, "n0")])

    assert view.next_inbound(1, 2) == [] and view.next_inbound(2, 1) == []


def test_loading_a_snapshot_replaces_everything_before_it():
    view = loaded((1, 1, 10, 0, 0, 0), inbound=[(1, 1, NOW, 0, 4, "n0")], as_of_seq=10)
    view.apply([row(11, 2, 2, "receipt", 5, on_hand=5)])

    view.load(arrays((3, 3, 1, 0, 0, 0)), [], [], 3)

    assert view.as_of_seq == 3
    assert view.all_positions() == (3, {(3, 3): (1, 0, 0, 0)})
    assert view.next_inbound(1, 1) == []


def test_a_hundred_thousand_positions_cost_at_most_32_bytes_each():
    count = 100_000
    products = np.arange(count, dtype=np.int64) // 4 + 1
    locations = np.arange(count, dtype=np.int64) % 4 + 1
    zeros = np.zeros(count, dtype=np.int64)
    view = StockView()
    view.load({"product_id": products, "location_id": locations, "on_hand": products % 50, "reserved": zeros,
               "safety_stock": zeros, "inbound": zeros}, [], [], 1)

    assert view.size() == count
    assert view.nbytes() <= 32 * count
    assert view.position(25_000, 4, now=NOW).on_hand == 25_000 % 50


def test_a_receipt_naming_its_inbound_reduces_that_one_and_not_the_earliest():
    first, later = NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=4)
    view = loaded((1, 1, 0, 0, 0, 9), inbound=[(1, 1, first, 1, 4, "early"), (1, 1, later, 2, 5, "late")])

    view.apply([row(11, 1, 1, "receipt", 3, on_hand=3, inbound=-3, inbound_id="late")])

    assert view.next_inbound(1, 1) == [(first, 4), (later, 2)]


# --- in-stock flags (what recommendations ask) ---------------------------------------------

def in_stock(view: StockView, products, locations, now=NOW) -> list[bool]:
    return view.in_stock(np.array(products, dtype=np.int64), locations, now=now).tolist()


def test_in_stock_answers_per_product_for_any_of_the_locations():
    view = loaded((1, 1, 5, 0, 0, 0), (2, 1, 3, 1, 2, 0), (3, 1, 0, 0, 0, 9), (3, 2, 4, 0, 0, 0))

    assert in_stock(view, [1, 2, 3, 4, 999_999], [1]) == [True, False, False, False, False]
    assert in_stock(view, [1, 2, 3], [2]) == [False, False, True]
    assert in_stock(view, [1, 2, 3], [1, 2]) == [True, False, True]
    assert in_stock(view, [], [1]) == []


def test_in_stock_follows_events_applied_after_the_location_was_first_asked_about():
    view = loaded((1, 1, 5, 0, 0, 0), (2, 1, 0, 0, 0, 0), as_of_seq=10)
    assert in_stock(view, [1, 2, 3], [1]) == [True, False, False]

    view.apply([row(11, 1, 1, "sale", 5, on_hand=-5), row(12, 2, 1, "receipt", 4, on_hand=4),
                row(13, 3, 1, "receipt", 1, on_hand=1),               # a position new since the snapshot
                row(14, 70_000, 1, "receipt", 2, on_hand=2)])          # a product id beyond the flags so far
    assert in_stock(view, [1, 2, 3, 70_000], [1]) == [False, True, True, True]

    view.apply([row(15, 3, 1, "reserve", 1, reserved=1, reservation_id="r1")])
    assert in_stock(view, [3], [1]) == [False]
    view.apply([row(16, 3, 1, "release", 1, reserved=-1, reservation_id="r1")])
    assert in_stock(view, [3], [1]) == [True]


def test_an_expired_reservation_puts_the_product_back_in_stock():
    later = NOW + dt.timedelta(minutes=10)
    view = loaded((1, 1, 1, 0, 0, 0))
    view.apply([row(11, 1, 1, "reserve", 1, reserved=1, reservation_id="r1", expires_at=NOW + dt.timedelta(minutes=5))])
    assert in_stock(view, [1], [1], now=NOW) == [False]
    assert in_stock(view, [1], [1], now=later) == [True]
    # Closing the expired reservation changes nothing: it had stopped counting already.
    view.apply([row(12, 1, 1, "release", 1, reserved=-1, reservation_id="r1")])
    assert in_stock(view, [1], [1], now=later) == [True]


def test_in_stock_agrees_with_positions_after_many_random_events():
    rng = np.random.default_rng(3)
    view = loaded(*[(p, l, int(rng.integers(0, 3)), 0, 0, 0) for p in range(1, 40) for l in (1, 2)])
    assert len(in_stock(view, list(range(1, 40)), [1])) == 39           # flags for location 1 now exist
    events = []
    for seq in range(11, 11 + 3 * MERGE_THRESHOLD // 2):
        product, location, delta = int(rng.integers(1, 60)), int(rng.integers(1, 3)), int(rng.integers(-2, 3))
        events.append(row(seq, product, location, "adjustment", abs(delta), on_hand=delta))
    view.apply(events)
    for location in (1, 2):
        expected = [view.position(p, location, now=NOW).available > 0 for p in range(1, 60)]
        assert in_stock(view, list(range(1, 60)), [location]) == expected


def test_a_new_snapshot_forgets_the_flags():
    view = loaded((1, 1, 5, 0, 0, 0))
    assert in_stock(view, [1], [1]) == [True]
    view.load(arrays((1, 1, 0, 0, 0, 0)), (), (), 20)
    assert in_stock(view, [1], [1]) == [False]


# --- positions for a writer (the SQLite write path) --------------------------------------

def writer_state(view: StockView, keys: list[int], now: dt.datetime, unapplied=()) -> list[tuple[int, ...]]:
    return [(p.on_hand, p.reserved, p.safety_stock, p.inbound, p.expired_reserved)
            for p in view.positions_for_write(keys, now, unapplied)]


def test_a_writer_sees_unapplied_rows_as_if_applied_and_the_view_stays_as_it_was():
    expires = NOW + dt.timedelta(minutes=1)
    snapshot = arrays((1, 1, 10, 4, 0, 0), (2, 1, 3, 0, 0, 0))
    held = [("r1", 1, 1, 4, expires)]              # open, expiring at NOW + 1 min
    later = [
        row(6, 1, 1, "release", 4, reserved=-4, reservation_id="r1"),
        row(7, 1, 1, "reserve", 3, reserved=3, reservation_id="r2", expires_at=expires),
        row(8, 1, 1, "reserve", 2, reserved=2, reservation_id="r3"),              # never expires
        row(9, 3, 1, "receipt", 5, on_hand=5),                                     # a new position
        row(10, 2, 1, "sale", 9, refusal="insufficient_stock"),                    # refused: no effect
    ]
    behind, caught_up = StockView(), StockView()
    for view in (behind, caught_up):
        view.load(snapshot, held, [], 5)
    caught_up.apply(later)
    keys = [(1 << 24) | 1, (2 << 24) | 1, (3 << 24) | 1, (4 << 24) | 1]
    after_expiry = NOW + dt.timedelta(minutes=2)

    for now in (NOW, after_expiry):
        assert writer_state(behind, keys, now, later) == writer_state(caught_up, keys, now)
    # r1 was released, so it no longer counts as expired; r2 expired; r3 holds.
    assert writer_state(behind, keys, after_expiry, later)[0] == (10, 5, 0, 0, 3)
    assert behind.as_of_seq == 5 and behind.all_positions()[1] == {(1, 1): (10, 4, 0, 0), (2, 1): (3, 0, 0, 0)}
    assert writer_state(behind, keys, after_expiry) == [(10, 4, 0, 0, 4), (3, 0, 0, 0, 0), (0, 0, 0, 0, 0),
                                                        (0, 0, 0, 0, 0)]


def test_a_writer_judges_expiry_at_its_own_moment_whatever_readers_saw_later():
    view = StockView()
    view.load(arrays((1, 1, 5, 5, 0, 0)), [("r1", 1, 1, 5, NOW + dt.timedelta(minutes=1))], [], 1)
    assert view.position(1, 1, now=NOW + dt.timedelta(minutes=5)).reserved == 0     # a reader, later
    assert writer_state(view, [(1 << 24) | 1], NOW) == [(5, 5, 0, 0, 0)]            # a writer, earlier


def test_a_writer_counts_a_hold_that_readers_already_saw_expire():
    view = StockView()
    view.load(arrays((1, 1, 9, 9, 0, 0)), [("r1", 1, 1, 5, NOW + dt.timedelta(minutes=1)),
                                           ("r2", 1, 1, 4, NOW + dt.timedelta(hours=1))], [], 1)
    assert view.position(1, 1, now=NOW + dt.timedelta(minutes=5)).reserved == 4     # a reader: r1 is gone

    # A writer at the same moment: r1 has expired (readers took it off the expiry heap), r2 holds.
    assert writer_state(view, [(1 << 24) | 1], NOW + dt.timedelta(minutes=5)) == [(9, 9, 0, 0, 5)]


def test_location_versions_change_with_whatever_changes_availability_there_and_only_there():
    view = loaded((1, 1, 10, 0, 0, 0), (1, 2, 5, 0, 0, 0))
    start = view.location_versions([1, 2], now=NOW)

    view.apply([row(11, 1, 1, "sale", 1, on_hand=-1)])
    after_sale = view.location_versions([1, 2], now=NOW)
    assert after_sale[1] != start[1] and after_sale[2] == start[2]

    view.apply([row(12, 1, 2, "reserve", 2, reserved=2, reservation_id="r", expires_at=NOW + dt.timedelta(minutes=5))])
    held = view.location_versions([1, 2], now=NOW)
    assert held[2] != after_sale[2] and held[1] == after_sale[1]
    expired = view.location_versions([1, 2], now=NOW + dt.timedelta(minutes=6))
    assert expired[2] != held[2] and expired[1] == held[1]          # the hold stopped counting

    view.load(arrays((1, 1, 10, 0, 0, 0)), (), (), 20)
    assert view.location_versions([1, 2], now=NOW + dt.timedelta(minutes=6)) != expired   # a new snapshot


def test_product_versions_change_with_whatever_changes_the_product_anywhere_and_only_it():
    view = loaded((1, 1, 10, 0, 0, 0), (1, 2, 5, 0, 0, 0), (2, 1, 7, 0, 0, 0))
    start = view.product_versions([1, 2], now=NOW)

    view.apply([row(11, 1, 2, "sale", 1, on_hand=-1)])               # product 1, at its second store
    after_sale = view.product_versions([1, 2], now=NOW)
    assert after_sale[1] != start[1] and after_sale[2] == start[2]

    view.apply([row(12, 2, 1, "reserve", 2, reserved=2, reservation_id="r", expires_at=NOW + dt.timedelta(minutes=5))])
    held = view.product_versions([1, 2], now=NOW)
    assert held[2] != after_sale[2] and held[1] == after_sale[1]
    expired = view.product_versions([1, 2], now=NOW + dt.timedelta(minutes=6))
    assert expired[2] != held[2] and expired[1] == held[1]          # the hold stopped counting

    view.apply([row(13, 3, 1, "receipt", 4, on_hand=4)])             # a product nobody asked about
    assert view.product_versions([1, 2], now=NOW + dt.timedelta(minutes=6)) == expired

    view.load(arrays((1, 1, 10, 0, 0, 0)), (), (), 20)
    assert view.product_versions([1, 2], now=NOW + dt.timedelta(minutes=6)) != expired   # a new snapshot
