"""Customer profiles: keeping them current and showing them to marketing."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from promo.adapters.orm import CustomerProfile
from promo.config import Settings
from promo.domain.profiles import SegmentRules, average_basket, days_between, segments_of

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

# Customers per transaction when every profile is rebuilt (keeps SQLite's write lock short).
REBUILD_CHUNK = 500


def segment_rules(settings: Settings) -> SegmentRules:
    return SegmentRules(
        new_days=settings.segment_new_days,
        lapsing_days=settings.segment_lapsing_days,
        loyal_min_visits=settings.segment_loyal_min_visits,
        loyal_visits_per_30_days=settings.segment_loyal_visits_per_30_days,
        big_basket_value=settings.segment_big_basket_value,
    )


def refresh_all(runtime: "Runtime", *, progress: bool = True) -> int:
    """Recompute every customer's profile (after a bulk load); return how many."""
    with runtime.unit_of_work() as uow:
        ids = uow.profiles.all_customer_ids()
    with tqdm(total=len(ids), desc="profiles", unit="customers", disable=not progress, mininterval=0.5) as bar:
        for start in range(0, len(ids), REBUILD_CHUNK):
            chunk = ids[start:start + REBUILD_CHUNK]
            with runtime.unit_of_work(write=True) as uow:
                uow.profiles.refresh(chunk)
                uow.commit()
            bar.update(len(chunk))
    return len(ids)


def profile_view(profile: CustomerProfile, now: dt.datetime, rules: SegmentRules,
                 location_codes: dict[int, str]) -> dict[str, Any]:
    """A profile as marketing reads it: segments first, then the figures behind them."""
    recency = days_between(profile.last_purchase_at, now)
    active_days = max(days_between(profile.first_purchase_at, now) or 0.0, float(rules.new_days))
    channel_visits = sum(profile.channels.values())
    locations = [{"location": location_codes.get(entry["location_id"]), "visits": entry["visits"]}
                 for entry in profile.top_locations]
    return {
        "as_of": now,
        "segments": segments_of(profile, now, rules),
        "recency_days": None if recency is None else round(recency, 1),
        "frequency": {
            "visits": profile.visits,
            "visits_per_30_days": round(profile.visits * 30.0 / active_days, 2) if profile.visits else 0.0,
        },
        "monetary": {
            "spend": profile.spend,
            "average_basket": average_basket(profile),
            "items": profile.items,
            "discount": profile.discount,
        },
        "first_purchase_at": profile.first_purchase_at,
        "last_purchase_at": profile.last_purchase_at,
        "last_seen_at": profile.last_seen_at,
        "home_store": locations[0]["location"] if locations else None,
        "top_locations": locations,
        "channel_mix": {channel: round(visits / channel_visits, 3)
                        for channel, visits in sorted(profile.channels.items())} if channel_visits else {},
        "top_categories": profile.top_categories,
        "top_brands": profile.top_brands,
        "coupons": {
            "campaigns_targeted": profile.exposures,
            "redemptions": profile.redemptions,
            "last_redemption_at": profile.last_redemption_at,
            "purchases_with_coupon_discount": profile.coupon_lines,
            "coupon_discount": profile.coupon_discount,
        },
        "browsing": {"views": profile.views, "carts": profile.carts},
    }
