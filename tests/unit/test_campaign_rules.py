"""Campaign rules that need no database: lifecycle, editing per status, holdout, discounts,
stock cover."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pytest

from promo.domain import campaigns as rules
from promo.domain.campaigns import Discount, StockPolicy, TransitionRefused

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


@pytest.mark.parametrize("action, status, target", [
    ("schedule", "draft", "scheduled"), ("activate", "draft", "active"), ("activate", "scheduled", "active"),
    ("pause", "active", "paused"), ("resume", "paused", "active"), ("end", "paused", "ended"),
    ("end", "scheduled", "ended"), ("archive", "ended", "archived"), ("archive", "draft", "archived"),
])
def test_each_arrow_of_the_lifecycle(action, status, target):
    assert rules.next_status(action, status) == target


@pytest.mark.parametrize("action, status", [
    ("activate", "ended"), ("pause", "paused"), ("resume", "active"), ("archive", "active"), ("end", "draft"),
    ("schedule", "archived"), ("activate", "paused"),
])
def test_every_other_move_is_refused_with_a_reason(action, status):
    with pytest.raises(TransitionRefused) as refused:
        rules.next_status(action, status)
    assert refused.value.reason == "invalid_transition" and status in refused.value.message


def test_dates_a_transition_needs():
    with pytest.raises(TransitionRefused, match="schedule it") as early:
        rules.check_dates("activate", T0 + HOUR, T0 + 2 * HOUR, T0)
    assert early.value.reason == "not_started"
    with pytest.raises(TransitionRefused) as late:
        rules.check_dates("resume", T0 - 2 * HOUR, T0, T0)
    assert late.value.reason == "campaign_over"
    rules.check_dates("schedule", T0 + HOUR, T0 + 2 * HOUR, T0)


def test_the_clock_starts_and_finishes():
    assert rules.due_transition("scheduled", None, T0, T0 + HOUR, T0) == "start"
    assert rules.due_transition("scheduled", None, T0, T0 + HOUR, T0 - HOUR) is None
    assert rules.due_transition("scheduled", None, T0, T0 + HOUR, T0 + HOUR) == "finish"
    assert rules.due_transition("paused", "stock", T0, T0 + HOUR, T0 + 2 * HOUR) == "finish"
    assert rules.due_transition("active", None, T0, T0 + HOUR, T0) is None
    assert rules.due_transition("draft", None, T0, T0 + HOUR, T0 + 2 * HOUR) is None


def test_a_live_campaign_keeps_its_promise():
    assert rules.fields_not_editable("active", ["ends_at", "limits", "discount", "products"]) == ["discount", "products"]
    assert rules.fields_not_editable("draft", rules.FIELDS) == []
    assert rules.fields_not_editable("archived", ["name"]) == ["name"]


def test_the_holdout_is_stable_across_processes_and_near_its_share():
    here = [rules.holdout_bucket("cmp-1", f"c{i}") for i in range(5)]
    code = ("from promo.domain.campaigns import holdout_bucket;"
            "print([holdout_bucket('cmp-1', f'c{i}') for i in range(5)])")
    elsewhere = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                               env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=None).stdout.strip()
    assert elsewhere == str(here)
    held = sum(rules.is_held_out("cmp-1", f"c{i}", 10) for i in range(20_000))
    assert 1800 < held < 2200
    assert not any(rules.is_held_out("cmp-1", f"c{i}", 0) for i in range(1000))
    # Independent between campaigns: being held out of one says little about another.
    both = sum(rules.is_held_out("cmp-1", f"c{i}", 50) and rules.is_held_out("cmp-2", f"c{i}", 50)
               for i in range(20_000))
    assert 4500 < both < 5500


@pytest.mark.parametrize("discount, price, unit_price", [
    ({"type": "percent", "value": 20}, "2.99", "2.39"),
    ({"type": "percent", "value": 100}, "2.99", "0.00"),
    ({"type": "amount_off", "value": 1.5}, "2.99", "1.49"),
    ({"type": "amount_off", "value": 5}, "2.99", "0.00"),
    ({"type": "fixed_price", "value": 2.0}, "2.99", "2.00"),
    ({"type": "fixed_price", "value": 4.0}, "2.99", "2.99"),
    ({"type": "buy_x_get_y", "buy": 2, "get": 1}, "3.00", "2.00"),
])
def test_discount_arithmetic_is_exact_and_never_below_zero(discount, price, unit_price):
    found = Discount.of(discount)
    assert found.unit_price(Decimal(price)) == Decimal(unit_price)
    assert found.saving(Decimal(price)) == Decimal(price) - Decimal(unit_price)


def test_buy_x_get_y_takes_a_whole_bundle_per_redemption():
    assert Discount.of({"type": "buy_x_get_y", "buy": 2, "get": 1}).units_per_redemption == 3
    assert Discount.of({"type": "percent", "value": 5}).units_per_redemption == 1


def test_discount_bodies_are_checked_for_their_type():
    assert rules.discount_errors({"type": "percent", "value": 0}) == ["a percent is more than 0 and at most 100"]
    assert rules.discount_errors({"type": "buy_x_get_y", "buy": 1, "value": 3}) == [
        "buy_x_get_y needs 'get'", "buy_x_get_y takes no 'value'"]
    assert rules.discount_errors({"type": "fixed_price", "value": 0}) == []


def test_cover_is_short_below_the_policy_and_at_risk_near_it():
    policy = StockPolicy(min_cover_ratio=2.0, min_available_per_location=3)
    available = np.array([0, 2, 10, 13, 100])
    expected = np.array([1, 0, 5, 5, 5])
    # needed: max(3, 2 x expected) = 3, 3, 10, 10, 10; at risk below 1.5 x needed.
    assert rules.cover_statuses(available, expected, policy).tolist() == [2, 2, 1, 1, 0]


def test_the_verdict_depends_on_what_a_stock_out_does():
    statuses = np.array([0, 1, 2])
    pause = rules.overall_verdict(statuses, StockPolicy(on_stockout="pause_campaign"))
    exclude = rules.overall_verdict(statuses, StockPolicy(on_stockout="exclude_product"))
    assert (pause.verdict, pause.policy_met) == ("short", False)
    assert (exclude.verdict, exclude.policy_met) == ("at_risk", True)
    assert rules.overall_verdict(np.array([2, 2]), StockPolicy()).policy_met is False
    assert rules.overall_verdict(np.array([0, 0]), StockPolicy()).verdict == "ok"
    assert exclude.counts == {"ok": 1, "at_risk": 1, "short": 1}


def test_a_running_campaign_needs_stock_only_for_what_is_left_of_it():
    assert rules.remaining_share(T0, T0 + 4 * HOUR, T0 - HOUR) == 1.0
    assert rules.remaining_share(T0, T0 + 4 * HOUR, T0 + HOUR) == 0.75
    assert rules.remaining_share(T0, T0 + 4 * HOUR, T0 + 5 * HOUR) == 0.0
