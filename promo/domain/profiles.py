"""Customer segments and profile conditions: the rules marketing targets with.

A profile holds lifetime figures (visits, spend, first and last purchase...); segments
are derived from them at read time against a reference clock, so nobody has to rewrite
every profile as the days pass and a loyal customer who stops coming becomes lapsing on
their own.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Iterable, Protocol

SEGMENTS = ("new", "loyal", "lapsing", "big_basket", "coupon_user", "browser")
SEGMENT_MEANINGS = {
    "new": "first purchase (or first visit, if none yet) within the last `new_days` days",
    "loyal": "at least `loyal_min_visits` visits, `loyal_visits_per_30_days` or more on average, and not lapsing",
    "lapsing": "bought before, but not for more than `lapsing_days` days",
    "big_basket": "average basket value of at least `big_basket_value`",
    "coupon_user": "redeemed a campaign coupon or bought with a coupon discount",
    "browser": "viewed or carted products but never bought",
}


class ProfileFacts(Protocol):
    """What the rules read from a profile (the ORM row satisfies it)."""

    first_seen_at: dt.datetime | None
    first_purchase_at: dt.datetime | None
    last_purchase_at: dt.datetime | None
    visits: int
    spend: float
    coupon_lines: int
    redemptions: int
    views: int
    carts: int


@dataclasses.dataclass(frozen=True)
class SegmentRules:
    new_days: int = 30
    lapsing_days: int = 45
    loyal_min_visits: int = 8
    loyal_visits_per_30_days: int = 4
    big_basket_value: int = 50


def days_between(earlier: dt.datetime | None, later: dt.datetime) -> float | None:
    return None if earlier is None else max((later - earlier).total_seconds() / 86400.0, 0.0)


def average_basket(profile: ProfileFacts) -> float | None:
    return round(profile.spend / profile.visits, 2) if profile.visits else None


def segments_of(profile: ProfileFacts, now: dt.datetime, rules: SegmentRules) -> list[str]:
    """The segments ``profile`` belongs to at ``now``, in the order of SEGMENTS."""
    found: set[str] = set()
    started = profile.first_purchase_at or profile.first_seen_at
    tenure = days_between(started, now)
    if tenure is not None and tenure <= rules.new_days:
        found.add("new")
    recency = days_between(profile.last_purchase_at, now)
    lapsing = recency is not None and recency > rules.lapsing_days
    if lapsing:
        found.add("lapsing")
    if not lapsing and profile.visits >= rules.loyal_min_visits:
        active_days = max(days_between(profile.first_purchase_at, now) or 0.0, float(rules.new_days))
        if profile.visits * 30.0 / active_days >= rules.loyal_visits_per_30_days:
            found.add("loyal")
    basket = average_basket(profile)
    if basket is not None and basket >= rules.big_basket_value:
        found.add("big_basket")
    if profile.redemptions > 0 or profile.coupon_lines > 0:
        found.add("coupon_user")
    if profile.visits == 0 and (profile.views > 0 or profile.carts > 0):
        found.add("browser")
    return [name for name in SEGMENTS if name in found]


@dataclasses.dataclass(frozen=True)
class ProfileConditions:
    """Targeting conditions on profiles; every condition given must hold.

    ``segments``: the customer is in at least one of them; ``top_categories``: one of the
    customer's top categories is among them, in any letter case; the numbers are
    inclusive bounds.
    """

    segments: frozenset[str] = frozenset()
    top_categories: frozenset[str] = frozenset()
    min_visits: int | None = None
    min_spend: float | None = None
    max_days_since_purchase: float | None = None
    home_location: int | None = None

    @classmethod
    def of(cls, *, segments: Iterable[str] = (), top_categories: Iterable[str] = (), **bounds: Any) -> "ProfileConditions":
        unknown = sorted(set(segments) - set(SEGMENTS))
        if unknown:
            raise ValueError(f"unknown segments {unknown}; known: {list(SEGMENTS)}")
        # People type categories in any case ("beef" for BEEF).
        return cls(segments=frozenset(segments), top_categories=frozenset(c.casefold() for c in top_categories),
                   **bounds)

    def matches(self, profile: ProfileFacts, *, segments: list[str], categories: list[str], now: dt.datetime,
                home_location: int | None) -> bool:
        if self.segments and not self.segments.intersection(segments):
            return False
        if self.top_categories and not self.top_categories.intersection(c.casefold() for c in categories):
            return False
        if self.min_visits is not None and profile.visits < self.min_visits:
            return False
        if self.min_spend is not None and profile.spend < self.min_spend:
            return False
        if self.max_days_since_purchase is not None:
            recency = days_between(profile.last_purchase_at, now)
            if recency is None or recency > self.max_days_since_purchase:
                return False
        if self.home_location is not None and home_location != self.home_location:
            return False
        return True
