"""Everything a campaign's page shows, read in one go: the campaign, its report (results,
uplift against the holdout, timeline), its stock coverage per location, its audit history
and what may be asked of it next."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from promo.domain.campaigns import actions_from
from promo.domain.errors import Conflict
from promo.services import campaign_reports, campaigns
from promo.services.campaign_check import campaign_locations, cover, positions_report, run_check
from promo.services.campaign_coverage import LIVE_STATUSES

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

# The audit history a page lists, newest first (the API pages through all of it).
HISTORY_SHOWN = 200


def stock_coverage(runtime: "Runtime", code: str, status: str, now: dt.datetime) -> dict[str, Any] | None:
    """The verdict and per-location counts: for a live campaign against the demand expected
    when it went live (as the stock watch judges it), for a draft by a full check; none once
    it is over."""
    if status == "draft":
        try:
            report = run_check(runtime, code, now).report
        except Conflict:                     # no response model for model targeting, view behind
            return None
        return _coverage(report["verdict"], report["by_location"], report["counts"])
    if status not in LIVE_STATUSES:
        return None
    with runtime.unit_of_work() as uow:
        campaign = campaigns.campaign_or_404(uow, code)
        product_ids = uow.campaigns.product_ids(campaign.id)
        if not product_ids:
            return None
        found = cover(runtime, campaign, product_ids, campaign_locations(runtime, campaign),
                      campaign.expected_redemptions or 0.0, now)
    return _coverage(found.verdict.verdict, positions_report(runtime, found)["by_location"], found.verdict.counts)


def _coverage(verdict: str, by_location: list[dict[str, Any]], counts: dict[str, int]) -> dict[str, Any]:
    """The verdict, and per location how many of the promoted products are ok, at risk and
    short (as (location, counts) bars for the page's chart)."""
    return {"verdict": verdict, "counts": counts,
            "bars": [(row["location"], {k: v for k, v in row.items() if k != "location"}) for row in by_location]}


def budget_burn(by_day: list[dict[str, Any]]) -> list[tuple[dt.date, float]]:
    """Discount spent so far at the end of each day with a redemption."""
    spent, burn = 0.0, []
    for day in by_day:
        spent += day["discount"]
        burn.append((dt.date.fromisoformat(day["day"]), round(spent, 2)))
    return burn


def overview(runtime: "Runtime", code: str, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.timezone.utc)
    campaign = campaigns.get_campaign(runtime.unit_of_work(), code)
    report = campaign_reports.report(runtime, code, now=now)
    history, history_total = campaigns.latest_history(runtime.unit_of_work(), code, limit=HISTORY_SHOWN)
    return {
        "campaign": campaign, "report": report,
        "actions": actions_from(campaign["status"], imported=campaign["source"] != "api"),
        "coverage": stock_coverage(runtime, code, campaign["status"], now),
        "redemptions_per_day": [(dt.date.fromisoformat(d["day"]), float(d["redemptions"])) for d in report["by_day"]],
        "budget_burn": budget_burn(report["by_day"]),
        "history": history, "history_total": history_total,
    }
