"""A campaign's report for marketing: what was served, clicked and redeemed, what is left of
its limits, what it changed (treated against the comparison group on buying a promoted
product while it ran, with a 95% interval), per channel and location, and its timeline.

The comparison group is the randomised holdout for campaigns built here; the imported
history has no holdout, so its campaigns are compared with the households they did not
target, which is not randomised and says so (``comparison``).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import func, select

from promo.adapters import report_data
from promo.adapters.orm import CampaignExposure, Customer
from promo.domain.reports import uplift
from promo.services.campaign_audience import resolve
from promo.services.campaigns import campaign_or_404, event_view

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

OUTCOME = "bought a promoted product during the campaign"
HOLDOUT = "holdout"
UNTARGETED = "untargeted (not randomised)"
# The timeline: transitions (made by people, the clock or the stock watch), refusals, stock
# events on promoted products, codes issued; not edits, which the history lists.
NOT_ON_TIMELINE = ("created", "updated")
MAX_TIMELINE = 1000


def report(runtime: "Runtime", code: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.timezone.utc)
    with runtime.unit_of_work() as uow:
        campaign = campaign_or_404(uow, code)
        session = uow.session
        sites = runtime.stock.catalog.sites()

        def location_code(location_id: int | None) -> str | None:
            site = sites.get(location_id) if location_id is not None else None
            return site.code if site is not None else None

        served = report_data.exposures(session, campaign.id)
        events = report_data.offer_events(session, campaign.id)
        redeemed = report_data.redemptions(session, campaign.id)
        by_day = [{"day": day.isoformat(), "redemptions": n, "discount": spent}
                  for day, n, spent in report_data.redemptions_by_day(session, campaign.id)]
        codes_issued, codes_left = uow.checkout.code_counts(campaign.id)
        comparison = _comparison(runtime, uow, campaign, now)
        timeline = [event_view(e) for e in uow.campaigns.events(campaign.id, after=None, limit=100_000)
                    if e.action not in NOT_ON_TIMELINE][-MAX_TIMELINE:]
        after_exposure = report_data.redeemed_after_exposure(session, campaign.id)
        redeemers = report_data.redeemers(session, campaign.id)
        limits = _limits(campaign, codes_issued, codes_left)
        head = {"id": campaign.code, "name": campaign.name, "status": campaign.status, "type": campaign.type,
                "source": campaign.source, "starts_at": campaign.starts_at, "ends_at": campaign.ends_at,
                "holdout_percent": campaign.holdout_percent}

    live = [row for row in redeemed if not row[2]]
    totals = {
        "exposures": sum(row[3] for row in served if row[0] != HOLDOUT),
        "customers_exposed": sum(row[4] for row in served if row[0] != HOLDOUT),
        "holdout_controls": sum(row[3] for row in served if row[0] == HOLDOUT),
        "clicks": events.get("click", 0), "dismissals": events.get("dismiss", 0),
        "redemptions": sum(row[3] for row in live), "cancelled": sum(row[3] for row in redeemed if row[2]),
        "redeemers": redeemers, "revenue": round(sum(float(row[5]) for row in live), 2),
        "discount": round(sum(float(row[6]) for row in live), 2), "citing_an_offer": sum(row[7] for row in live),
        "after_exposure": after_exposure,
    }
    return {"campaign": head, "as_of": now, "totals": totals, "limits": limits, "outcome": OUTCOME,
            "treated_vs_control": comparison,
            "by_channel": _breakdown(served, live, lambda channel, _: channel, "channel"),
            "by_location": _breakdown(served, live, lambda _, location: location_code(location), "location"),
            "by_day": by_day, "timeline": timeline}


def _limits(campaign: Any, codes_issued: int, codes_left: int) -> dict[str, Any]:
    spent = campaign.discount_spent_cents / 100
    return {
        "max_redemptions": campaign.max_redemptions, "redeemed": campaign.redeemed_count,
        "redemptions_left": None if campaign.max_redemptions is None
        else max(0, campaign.max_redemptions - campaign.redeemed_count),
        "budget": campaign.budget, "discount_spent": spent,
        "budget_left": None if campaign.budget is None else round(max(0.0, campaign.budget - spent), 2),
        "per_customer": campaign.per_customer, "codes_issued": codes_issued, "codes_left": codes_left,
    }


def _comparison(runtime: "Runtime", uow: Any, campaign: Any, now: dt.datetime) -> dict[str, Any]:
    """Treated against the comparison group on the outcome, over the campaign so far."""
    end = min(campaign.ends_at, now)
    window = {"from": campaign.starts_at, "to": end}
    if campaign.starts_at >= end:
        return {"comparison": None, "window": window, "note": "the campaign has not started"}
    buyers = report_data.buyers_of_promoted(uow.session, campaign.id, campaign.starts_at, end)
    if campaign.source == "api":
        audience = resolve(runtime, uow, campaign, uow.campaigns.product_ids(campaign.id))
        ids = audience.customer_ids.tolist()
        treated = {int(i) for i, held in zip(ids, audience.held_out.tolist()) if not held}
        control = {int(i) for i, held in zip(ids, audience.held_out.tolist()) if held}
        kind = HOLDOUT
        control_size, control_buyers = len(control), sum(1 for c in control if c in buyers)
    else:
        cohorts = dict(uow.session.execute(select(CampaignExposure.customer_id, CampaignExposure.cohort)
                                           .where(CampaignExposure.campaign_id == campaign.id)).all())
        treated = {c for c, cohort in cohorts.items() if cohort == "targeted"}
        control = {c for c, cohort in cohorts.items() if cohort == "holdout"}
        if control:
            kind = HOLDOUT
            control_size, control_buyers = len(control), sum(1 for c in control if c in buyers)
        else:
            kind = UNTARGETED
            everyone = int(uow.session.scalar(select(func.count()).select_from(Customer)) or 0)
            control_size = everyone - len(treated)
            control_buyers = sum(1 for c in buyers if c not in treated)
    found = uplift(len(treated), sum(1 for c in treated if c in buyers), control_size, control_buyers)
    answer: dict[str, Any] = {"comparison": kind, "window": window, "treated": len(treated),
                              "control": control_size,
                              "treated_sales": round(sum(buyers.get(c, 0.0) for c in treated), 2)}
    if found is None:
        note = ("no comparison group: set holdout_percent to measure uplift" if not campaign.holdout_percent
                else "the comparison group or the treated group is still empty")
        return {**answer, "comparison": None, "note": note}
    low, high = found.interval
    return {**answer, "treated_buyers": found.treated_converted, "control_buyers": found.control_converted,
            "treated_rate": round(found.treated_rate, 6), "control_rate": round(found.control_rate, 6),
            "uplift": round(found.difference, 6), "interval_95": [round(low, 6), round(high, 6)],
            "relative_uplift": None if found.relative is None else round(found.relative, 6)}


def _breakdown(served: list[tuple[Any, ...]], live: list[tuple[Any, ...]], key: Any, name: str) -> list[dict[str, Any]]:
    rows: dict[Any, dict[str, Any]] = {}

    def row(channel: Any, location: Any) -> dict[str, Any]:
        k = key(channel, location)
        return rows.setdefault(k, {name: k, "exposures": 0, "redemptions": 0, "revenue": 0.0, "discount": 0.0})

    for cohort, channel, location, lists, _ in served:
        if cohort != HOLDOUT:
            row(channel, location)["exposures"] += lists
    for channel, location, _, count, _, revenue, discount, _ in live:
        found = row(channel, location)
        found["redemptions"] += count
        found["revenue"] = round(found["revenue"] + float(revenue), 2)
        found["discount"] = round(found["discount"] + float(discount), 2)
    return sorted(rows.values(), key=lambda r: (r[name] is None, str(r[name])))


CSV_COLUMNS = ("section", "key", "metric", "value")


def csv_lines(found: dict[str, Any]) -> Iterator[str]:
    """The report flattened: one (section, key, metric, value) row per figure."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for metric, value in found["totals"].items():
        writer.writerow(["totals", "", metric, value])
    for metric, value in found["limits"].items():
        writer.writerow(["limits", "", metric, "" if value is None else value])
    for metric, value in found["treated_vs_control"].items():
        if metric == "window":
            value = f"{value['from'].isoformat()}/{value['to'].isoformat()}"
        writer.writerow(["treated_vs_control", "", metric, "" if value is None else value])
    for section, name in (("by_channel", "channel"), ("by_location", "location")):
        for row in found[section]:
            for metric, value in row.items():
                if metric != name:
                    writer.writerow([section, row[name] or "", metric, value])
    for row in found["by_day"]:
        writer.writerow(["by_day", row["day"], "redemptions", row["redemptions"]])
        writer.writerow(["by_day", row["day"], "discount", row["discount"]])
    for event in found["timeline"]:
        writer.writerow(["timeline", event["at"].isoformat(), event["action"], event.get("stock_seq") or ""])
    yield buffer.getvalue()
