"""Each live campaign's stock coverage as a badge (ok, at_risk, short), from the live view:
what the campaigns list shows beside each campaign that stock concerns."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from promo.services.campaign_check import campaign_locations, cover

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

LIVE_STATUSES = ("scheduled", "active", "paused")


def coverage_badges(runtime: "Runtime", codes: list[str], now: dt.datetime | None = None) -> dict[str, str]:
    """{campaign id: ok | at_risk | short} for the live campaigns among ``codes``."""
    now = now or dt.datetime.now(dt.timezone.utc)
    badges: dict[str, str] = {}
    with runtime.unit_of_work() as uow:
        for code in codes:
            campaign = uow.campaigns.get(code)
            if campaign is None or campaign.status not in LIVE_STATUSES:
                continue
            product_ids = uow.campaigns.product_ids(campaign.id)
            if not product_ids:
                continue
            found = cover(runtime, campaign, product_ids, campaign_locations(runtime, campaign),
                          campaign.expected_redemptions or 0.0, now)
            badges[code] = found.verdict.verdict
    return badges
