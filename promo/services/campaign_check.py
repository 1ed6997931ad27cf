"""The stock check: can live stock carry a campaign?

Audience after holdout -> expected redemptions (the response model's probabilities
summed, or a historical rate without a model) -> expected units per product and location
(spread by recent sales there, for the part of the run still ahead) -> set against
available-to-promise from this process's live stock view -> ok, at_risk or short per
pair, and a verdict under the campaign's stock policy. Activation runs it; so does the
stock watch, against the expected redemptions stored at activation.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np

from promo.adapters.orm import Campaign, utcnow
from promo.adapters.stock_repository import StockRepository
from promo.domain.campaigns import (
    COVER_STATUSES,
    SHORT,
    CoverVerdict,
    Discount,
    StockPolicy,
    cover_statuses,
    overall_verdict,
    remaining_share,
)
from promo.domain.errors import Conflict
from promo.services.campaign_audience import Audience, resolve
from promo.services.campaigns import campaign_or_404, unsaved_campaign
from promo.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

# Redemptions per treated customer assumed when no response model is active and no
# ended campaign gives a historical rate (the demo's campaigns average about 3-8%).
FALLBACK_REDEMPTION_RATE = 0.02
# Pairs listed in a report, worst first; the counts always cover every pair.
MAX_LISTED_POSITIONS = 500


@dataclasses.dataclass
class Cover:
    product_ids: list[int]
    location_ids: list[int]
    available: np.ndarray       # products x locations
    expected_units: np.ndarray  # products x locations
    statuses: np.ndarray        # products x locations, OK / AT_RISK / SHORT
    verdict: CoverVerdict
    as_of_seq: int


def campaign_locations(runtime: "Runtime", campaign: Campaign) -> list[int]:
    """The campaign's locations, or every location serving one of its channels."""
    sites = runtime.stock.catalog.sites()
    if campaign.location_ids:
        return sorted(campaign.location_ids)
    channels = set(campaign.channels or ())
    return sorted(i for i, site in sites.items() if channels.intersection(site.channels))


def units_per_redemption(campaign: Campaign) -> int:
    return Discount.of(campaign.discount).units_per_redemption if campaign.discount else 1


def cover(runtime: "Runtime", campaign: Campaign, product_ids: list[int], location_ids: list[int],
          expected_redemptions: float, now: dt.datetime) -> Cover:
    """Live cover of every (product, location) of the campaign for the demand still ahead."""
    policy = StockPolicy.of(campaign.stock_policy)
    share = remaining_share(campaign.starts_at, campaign.ends_at, now)
    total_units = expected_redemptions * units_per_redemption(campaign) * share
    expected = total_units * runtime.demand.shares(product_ids, location_ids)
    view = runtime.stock.view
    as_of = view.as_of_seq
    available = view.available_matrix(product_ids, location_ids, now)
    statuses = cover_statuses(available, expected, policy)
    return Cover(product_ids, location_ids, available, expected, statuses,
                 overall_verdict(statuses, policy), as_of)


def expected_redemptions(uow: UnitOfWork, audience: Audience) -> tuple[float, str]:
    """(expected redemptions among the treated, where the figure comes from)."""
    if audience.probability is not None:
        return float(audience.probability[~audience.held_out].sum()), "model"
    rate = uow.campaigns.mean_redemption_rate()
    if rate is not None:
        return rate * audience.treated, "historical_rate"
    return FALLBACK_REDEMPTION_RATE * audience.treated, "fallback_rate"


@dataclasses.dataclass
class CheckResult:
    campaign: Campaign
    revision: int
    expected: float
    report: dict[str, Any]

    @property
    def policy_met(self) -> bool:
        return bool(self.report["policy_met"])


def _catch_up(runtime: "Runtime", uow: UnitOfWork) -> None:
    """Wait (at most stock_max_wait_ms) until this process's view holds every stock event
    committed so far: a check is a decision, and a client that has just written stock
    through another worker expects it to count."""
    head = StockRepository(uow.session).last_seq()
    if runtime.stock.view.as_of_seq < head and not runtime.stock.follower.wait_for(head, runtime.stock.max_wait_seconds):
        raise Conflict("this process's stock view is behind the stock log (starting, or the database is "
                       "slow); try again in a moment", reason="stock_view_behind")


def run_check(runtime: "Runtime", code: str, now: dt.datetime | None = None) -> CheckResult:
    """The check of one campaign as of now (see the module's docstring)."""
    now = now or utcnow()
    with runtime.unit_of_work() as uow:
        _catch_up(runtime, uow)
        campaign = campaign_or_404(uow, code)
        product_ids = uow.campaigns.product_ids(campaign.id)
        audience = resolve(runtime, uow, campaign, product_ids)
        expected, source = expected_redemptions(uow, audience)
        uow.session.expunge(campaign)
    report = _report(runtime, campaign, product_ids, audience, expected, source, now)
    return CheckResult(campaign=campaign, revision=campaign.revision, expected=expected, report=report)


def preview(runtime: "Runtime", body: dict[str, Any], now: dt.datetime | None = None) -> dict[str, Any]:
    """The check of a campaign body before it is saved (the web app's builder shows it as
    the form changes); 422 as creating it would be. The holdout is drawn as for a campaign
    of another id, so its exact members differ from the saved campaign's, not its size."""
    now = now or utcnow()
    with runtime.unit_of_work() as uow:
        _catch_up(runtime, uow)
        campaign, product_ids = unsaved_campaign(uow, body)
        audience = resolve(runtime, uow, campaign, product_ids)
        expected, source = expected_redemptions(uow, audience)
    return _report(runtime, campaign, product_ids, audience, expected, source, now)


def _report(runtime: "Runtime", campaign: Campaign, product_ids: list[int], audience: Audience, expected: float,
            source: str, now: dt.datetime) -> dict[str, Any]:
    locations = campaign_locations(runtime, campaign)
    found = cover(runtime, campaign, product_ids, locations, expected, now)
    return {
        "campaign": campaign.code, "status": campaign.status, "checked_at": now, "as_of_seq": found.as_of_seq,
        "verdict": found.verdict.verdict, "policy_met": found.verdict.policy_met,
        "stock_policy": StockPolicy.of(campaign.stock_policy).as_dict(),
        "audience": {"eligible": audience.size, "held_out": audience.size - audience.treated,
                     "treated": audience.treated, "opted_out": audience.opted_out},
        "expected_redemptions": round(expected, 2), "expected_from": source, "model": audience.model,
        "units_per_redemption": units_per_redemption(campaign),
        "remaining_share": round(remaining_share(campaign.starts_at, campaign.ends_at, now), 4),
        "products": len(product_ids), "locations": len(locations), "counts": found.verdict.counts,
        **positions_report(runtime, found),
    }


def positions_report(runtime: "Runtime", found: Cover) -> dict[str, Any]:
    """The pairs that are not ok, worst first (short, then least cover), at most
    MAX_LISTED_POSITIONS of them, and per location how many pairs are in each status."""
    sites = runtime.stock.catalog.sites()
    codes = {i: sites[i].code if i in sites else str(i) for i in found.location_ids}
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(found.expected_units > 0, found.available / found.expected_units, np.inf)
    flat_status, flat_ratio = found.statuses.ravel(), ratio.ravel()
    not_ok = np.nonzero(flat_status > 0)[0]
    order = not_ok[np.lexsort((flat_ratio[not_ok], -flat_status[not_ok]))][:MAX_LISTED_POSITIONS]
    n_locations = len(found.location_ids)
    skus = runtime.stock.catalog.skus([found.product_ids[i // n_locations] for i in order.tolist()])
    listed = []
    for index in order.tolist():
        p, loc = divmod(index, n_locations)
        expected = float(found.expected_units[p, loc])
        listed.append({"sku": skus.get(found.product_ids[p]), "location": codes[found.location_ids[loc]],
                       "available": int(found.available[p, loc]), "expected_units": round(expected, 2),
                       "cover": None if expected <= 0 else round(float(found.available[p, loc]) / expected, 2),
                       "status": COVER_STATUSES[int(flat_status[index])]})
    by_location = []
    for loc, location_id in enumerate(found.location_ids):
        column = found.statuses[:, loc]
        counts = {name: int(np.count_nonzero(column == code)) for code, name in enumerate(COVER_STATUSES)}
        by_location.append({"location": codes[location_id], **counts})
    return {"positions": listed, "positions_truncated": len(not_ok) > len(listed), "by_location": by_location}


def short_pairs(found: Cover) -> list[tuple[int, int]]:
    """(product id, location id) of every short pair."""
    rows, columns = np.nonzero(found.statuses == SHORT)
    return [(found.product_ids[r], found.location_ids[c]) for r, c in zip(rows.tolist(), columns.tolist())]
