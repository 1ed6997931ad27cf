"""Segment rules and profile conditions, on plain profile facts."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from promo.domain.profiles import ProfileConditions, SegmentRules, segments_of

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)
RULES = SegmentRules(new_days=30, lapsing_days=45, loyal_min_visits=8, loyal_visits_per_30_days=4,
                     big_basket_value=50)


@dataclasses.dataclass
class Facts:
    first_seen_at: dt.datetime | None = None
    first_purchase_at: dt.datetime | None = None
    last_purchase_at: dt.datetime | None = None
    visits: int = 0
    spend: float = 0.0
    coupon_lines: int = 0
    redemptions: int = 0
    views: int = 0
    carts: int = 0


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def shopper(first: float, last: float, visits: int, spend: float = 10.0, **more) -> Facts:
    return Facts(first_seen_at=days_ago(first), first_purchase_at=days_ago(first), last_purchase_at=days_ago(last),
                 visits=visits, spend=spend, **more)


@pytest.mark.parametrize("facts, expected", [
    (shopper(first=10, last=2, visits=1), ["new"]),
    (shopper(first=30, last=30, visits=1), ["new"]),
    (shopper(first=31, last=31, visits=1), []),
    (shopper(first=200, last=46, visits=40), ["lapsing"]),
    (shopper(first=200, last=45, visits=40), ["loyal"]),       # 6 visits per 30 days, 45 days is not lapsing yet
    (shopper(first=60, last=1, visits=8), ["loyal"]),          # 8 in 60 days = 4 per 30 days
    (shopper(first=60, last=1, visits=7), []),                 # too few visits
    (shopper(first=10, last=1, visits=8), ["new", "loyal"]),   # a new customer can already be loyal
    (shopper(first=90, last=1, visits=10, spend=500.0), ["big_basket"]),
    (shopper(first=90, last=1, visits=10, spend=499.0), []),
    (shopper(first=90, last=60, visits=2, redemptions=1), ["lapsing", "coupon_user"]),
    (Facts(first_seen_at=days_ago(100), views=3), ["browser"]),
    (Facts(first_seen_at=days_ago(3), carts=1), ["new", "browser"]),
])
def test_segments(facts, expected):
    assert segments_of(facts, NOW, RULES) == expected


def test_conditions_need_every_given_condition():
    loyal_meat = shopper(first=60, last=1, visits=8, spend=300.0)
    conditions = ProfileConditions.of(segments=["loyal", "new"], top_categories=["MEAT"], min_spend=100)
    assert conditions.matches(loyal_meat, segments=["loyal"], categories=["MEAT", "DAIRY"], now=NOW, home_location=1)
    assert not conditions.matches(loyal_meat, segments=["loyal"], categories=["DAIRY"], now=NOW, home_location=1)
    assert not conditions.matches(loyal_meat, segments=["lapsing"], categories=["MEAT"], now=NOW, home_location=1)
    assert not ProfileConditions.of(min_spend=301).matches(loyal_meat, segments=[], categories=[], now=NOW,
                                                           home_location=None)


def test_recency_and_home_conditions():
    facts = shopper(first=100, last=10, visits=5)
    assert ProfileConditions.of(max_days_since_purchase=10).matches(
        facts, segments=[], categories=[], now=NOW, home_location=None)
    assert not ProfileConditions.of(max_days_since_purchase=9.9).matches(
        facts, segments=[], categories=[], now=NOW, home_location=None)
    assert not ProfileConditions.of(max_days_since_purchase=100).matches(
        Facts(views=1), segments=[], categories=[], now=NOW, home_location=None)
    assert ProfileConditions.of(home_location=7).matches(facts, segments=[], categories=[], now=NOW, home_location=7)
    assert not ProfileConditions.of(home_location=7).matches(facts, segments=[], categories=[], now=NOW,
                                                             home_location=8)


def test_an_unknown_segment_is_refused():
    with pytest.raises(ValueError, match="unknown segments \\['vip'\\]"):
        ProfileConditions.of(segments=["vip"])
