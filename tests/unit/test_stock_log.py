"""Log rows read back by name, defensively: nothing the log holds stops a reader."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from promo.adapters.bulk import sqlite_time
from promo.adapters.stock_log import UNREADABLE_TYPE, EventRow, LogRow, read_log_rows, read_stored_time
from promo.adapters.stock_view import MERGE_THRESHOLD, StockView

UTC = dt.timezone.utc


def raw(seq, *, kind="receipt", deltas=(5, 0, 0, 0), expires_at=None, eta=None, reservation_id=None, refusal=None):
    return (seq, 1, 1, kind, 5, reservation_id, expires_at, eta, refusal, *deltas, None, f"e{seq}")


@pytest.mark.parametrize("moment", [dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(999, 12, 31, 23, 59, 59, 5, UTC),
                                    dt.datetime(2026, 11, 25, 10, 0, 0, 123456, UTC),
                                    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, UTC)])
def test_a_time_stored_for_sqlite_reads_back_the_same_whatever_its_year(moment):
    assert sqlite_time(moment)[:4] == f"{moment.year:04d}"
    assert read_stored_time(sqlite_time(moment)) == moment


def test_plain_rows_come_back_as_named_rows_unchanged():
    rows, problems = read_log_rows([raw(1), raw(2, kind="reserve", reservation_id="r1",
                                                   expires_at="2026-11-25 10:00:00.000000")])

    assert problems == []
    assert rows[0] == LogRow._make(raw(1)) and rows[0].event_id == "e1"
    assert rows[1].expires_at == dt.datetime(2026, 11, 25, 10, tzinfo=UTC)


def test_a_row_with_an_unreadable_time_keeps_its_deltas_loses_its_item_state_and_is_reported():
    rows, problems = read_log_rows([raw(1), raw(2, kind="reserve", deltas=(0, 3, 0, 0), reservation_id="r1",
                                              expires_at="1-01-01 00:00:00.000000"), raw(3)])

    assert [row.seq for row in rows] == [1, 2, 3]          # gapless: the follower goes on
    assert rows[1].type == UNREADABLE_TYPE and rows[1].reservation_id is None and rows[1].expires_at is None
    assert (rows[1].delta_on_hand, rows[1].delta_reserved) == (0, 3)
    assert [(p.seq, p.event_id, p.deltas_applied) for p in problems] == [(2, "e2", True)]
    assert "expires_at" in problems[0].problem


def test_a_row_whose_deltas_are_not_integers_applies_nothing_and_is_reported():
    rows, problems = read_log_rows([raw(7, deltas=("abc", 0, 0, 0)), raw(8, deltas=(2.5, 0, 0, 0))])

    assert [(row.seq, row.delta_on_hand) for row in rows] == [(7, 0), (8, 0)]
    assert [(p.seq, p.deltas_applied) for p in problems] == [(7, False), (8, False)]


def test_an_event_row_as_logged_is_its_log_part_with_utc_times():
    eta = dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    row = EventRow(1, 2, 3, "inbound", 4, None, None, eta, None, 0, 0, 0, 4, "n1", "n1", None, eta, eta, False)

    logged = row.as_logged()

    assert isinstance(logged, LogRow) and logged.event_id == "n1" and logged.delta_inbound == 4
    assert logged.eta == eta and logged.eta.tzinfo == UTC


def arrays(*positions):
    table = np.array(positions, dtype=np.int64).reshape(-1, 6)
    return {name: table[:, i] for i, name in
            enumerate(("product_id", "location_id", "on_hand", "reserved", "safety_stock", "inbound"))}


def row(seq, product_id, on_hand):
    return LogRow(seq, product_id, 1, "receipt", on_hand, None, None, None, None, on_hand, 0, 0, 0, None, f"e{seq}")


def test_a_view_loads_levels_past_32_bits_instead_of_failing():
    view = StockView()
    view.load(arrays((1, 1, 2_200_000_000, 0, 0, 0), (2, 1, 5, 0, 0, 0)), (), (), 3)

    assert view.position(1, 1).on_hand == 2_200_000_000
    assert view.position(1, 1).available == 2_200_000_000
    assert view.position(2, 1).on_hand == 5


def test_a_view_widens_rather_than_overflows_when_events_take_a_level_past_32_bits():
    view = StockView()
    view.load(arrays((1, 1, 2_000_000_000, 0, 0, 0)), (), (), 1)
    assert view.nbytes() == 24     # int32 columns while levels fit

    view.apply([row(2, 1, 100_000_000), row(3, 1, 100_000_000), row(4, 1, 100_000_000)])
    view.apply([row(5, 9, 3_000_000_000)])      # a new position, merged with the next ones
    view.apply([row(6 + i, 100 + i, 1) for i in range(MERGE_THRESHOLD)])

    assert view.size() == 2 + MERGE_THRESHOLD and view.nbytes() > 24 * view.size()   # merged, and wide
    assert view.position(1, 1).on_hand == 2_300_000_000
    assert view.position(9, 1).on_hand == 3_000_000_000
    assert view.all_positions()[1][(1, 1)] == (2_300_000_000, 0, 0, 0)
