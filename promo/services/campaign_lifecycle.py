"""Campaign transitions: those people ask for, and those the clock and the stock make.

Every transition is a conditional update on the campaign's revision (see
CampaignRepository.change) with its audit entry and its webhook in the same
transaction: of any number of workers and instances acting on the same campaign at the
same moment, exactly one changes it, and only that one writes the audit entry and the
notification. Automatic transitions are level-triggered: the watch compares the
campaign's status with what the clock and the live stock say now, so a process that
crashed between a stock write and the pause it implied is caught up by the next tick of
any process.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING, Any

from promo.adapters.orm import Campaign, utcnow
from promo.domain.campaigns import (
    PAUSED_BY_PERSON,
    PAUSED_BY_STOCK,
    StockPolicy,
    TransitionRefused,
    check_dates,
    due_transition,
    next_status,
)
from promo.domain import webhooks as events
from promo.domain.errors import Conflict
from promo.services import notifications
from promo.services.campaign_check import CheckResult, campaign_locations, cover, run_check, short_pairs
from promo.services.campaigns import campaign_or_404, get_campaign
from promo.services.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

log = logging.getLogger("promo.campaigns")

SYSTEM = "system"
GOING_LIVE = ("activate", "resume")
PAST_TENSE = {"schedule": "scheduled", "activate": "activated", "pause": "paused", "resume": "resumed",
              "end": "ended", "archive": "archived"}
# Short pairs named in an automatic pause's audit entry and webhook (the counts cover all).
NAMED_PAIRS = 20


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("verdict", "policy_met", "as_of_seq", "counts", "expected_redemptions", "expected_from", "audience")
    return {key: report[key] for key in keep}


def _json_ready(report: dict[str, Any]) -> dict[str, Any]:
    return {**report, "checked_at": report["checked_at"].isoformat()}


def _missing_for_live(campaign: Campaign) -> list[str]:
    return [name for name, value in (("discount", campaign.discount), ("channels", campaign.channels)) if not value]


def transition(runtime: "Runtime", code: str, action: str, *, actor: str, reason: str | None = None,
               override_reason: str | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Schedule, activate, pause, resume, end or archive a campaign, as a person asks.

    ``activate`` and ``resume`` run the stock check first; when the campaign's stock
    policy is not met they refuse with 409 ``stock_insufficient`` and the report (the
    refusal is audited), unless ``override_reason`` is given, which is audited with the
    activation."""
    now = now or utcnow()
    with runtime.unit_of_work() as uow:
        campaign = campaign_or_404(uow, code)
        revision = campaign.revision
        target = _allowed(campaign, action, now)
    checked = run_check(runtime, code, now) if action in GOING_LIVE else None
    with runtime.unit_of_work(write=True) as uow:
        campaign = campaign_or_404(uow, code)
        if campaign.revision != revision:
            raise Conflict("the campaign changed meanwhile; read it again and retry", reason="concurrent_change")
        if checked is not None and not checked.policy_met and override_reason is None:
            uow.campaigns.add_event(campaign.id, actor=actor, action="activation_refused", reason=reason,
                                    stock_seq=checked.report["as_of_seq"], details=_summary(checked.report))
            notifications.campaign_event(uow, events.CAMPAIGN_REFUSED, campaign, stock_seq=checked.report["as_of_seq"],
                                         details=_summary(checked.report))
            uow.commit()
            raise Conflict("live stock cannot carry this campaign under its stock policy; see details, or "
                           "activate with an override and a reason", reason="stock_insufficient",
                           details=_json_ready(checked.report))
        values: dict[str, Any] = {"status": target}
        if action == "pause":
            values["paused_by"] = PAUSED_BY_PERSON
        if checked is not None:
            values.update(paused_by=None, expected_redemptions=checked.expected,
                          stock_override=override_reason is not None and not checked.policy_met,
                          stock_judged_seq=checked.report["as_of_seq"])
        _change(uow, campaign, values, actor=actor, action=PAST_TENSE[action], reason=reason, checked=checked,
                override_reason=override_reason)
        uow.commit()
    return get_campaign(runtime.unit_of_work(), code)


def _allowed(campaign: Campaign, action: str, now: dt.datetime) -> str:
    if campaign.source != "api" and action not in ("archive",):
        raise Conflict("imported campaigns are history: copy one to run it again", reason="invalid_transition")
    try:
        target = next_status(action, campaign.status)
        check_dates(action, campaign.starts_at, campaign.ends_at, now)
    except TransitionRefused as refused:
        raise Conflict(refused.message, reason=refused.reason) from None
    if action in ("schedule", *GOING_LIVE):
        missing = _missing_for_live(campaign)
        if missing:
            raise Conflict(f"the campaign needs {', '.join(missing)} before it can go live", reason="incomplete")
    return target


def _change(uow: UnitOfWork, campaign: Campaign, values: dict[str, Any], *, actor: str, action: str,
            reason: str | None, checked: CheckResult | None = None, override_reason: str | None = None,
            stock_seq: int | None = None, details: dict[str, Any] | None = None) -> bool:
    """Apply a transition if the campaign is still at the revision read; audit and notify
    only then. Raises concurrent_change for a person's request; the watch just skips."""
    before = {"status": campaign.status, "paused_by": campaign.paused_by}
    if not uow.campaigns.change(campaign.id, campaign.revision, values):
        if actor == SYSTEM:
            return False
        raise Conflict("the campaign changed meanwhile; read it again and retry", reason="concurrent_change")
    details = dict(details or {})
    if checked is not None:
        details["check"] = _summary(checked.report)
        stock_seq = checked.report["as_of_seq"]
    if override_reason is not None:
        details["override"] = {"reason": override_reason,
                               "needed": bool(checked is not None and not checked.policy_met)}
    after = {"status": values["status"], "paused_by": values.get("paused_by", campaign.paused_by)}
    uow.campaigns.add_event(campaign.id, actor=actor, action=action, reason=override_reason or reason,
                            before=before, after=after, stock_seq=stock_seq, details=details)
    kind = {"activated": events.CAMPAIGN_ACTIVATED, "paused": events.CAMPAIGN_PAUSED,
            "resumed": events.CAMPAIGN_RESUMED, "ended": events.CAMPAIGN_ENDED}.get(action)
    if kind is not None:
        notifications.campaign_event(uow, kind, campaign, status=values["status"], actor=actor, stock_seq=stock_seq,
                                     reason=override_reason or reason, details=details)
    return True


# --- what the clock and the stock do by themselves -------------------------------------------

def run_due(runtime: "Runtime", now: dt.datetime | None = None, *, stock_ready: bool = True
            ) -> list[tuple[str, str]]:
    """Start scheduled campaigns whose start has come (through the stock check: a campaign
    the stock cannot carry is paused by the stock instead, and may resume on restock; not
    while ``stock_ready`` is false) and end those whose end has come. Returns (campaign,
    what happened) for the changes this call made. One campaign that cannot be moved (its
    check fails) is logged and left for the next tick; the others move on."""
    now = now or utcnow()
    with runtime.unit_of_work() as uow:
        due = [(c.code, due_transition(c.status, c.paused_by, c.starts_at, c.ends_at, now))
               for c in uow.campaigns.with_status(("scheduled", "active", "paused"))]
    done = []
    for code, step in due:
        try:
            if step == "finish":
                if _system_change(runtime, code, {"status": "ended"}, "ended", "the campaign's end came", now):
                    done.append((code, "ended"))
            elif step == "start" and stock_ready:
                done.extend(_start(runtime, code, now))
        except Exception:
            log.exception("campaign %s could not be moved; retrying at the next tick", code)
    return done


def _start(runtime: "Runtime", code: str, now: dt.datetime) -> list[tuple[str, str]]:
    checked = run_check(runtime, code, now)
    with runtime.unit_of_work(write=True) as uow:
        campaign = campaign_or_404(uow, code)
        if campaign.status != "scheduled" or campaign.revision != checked.revision:
            return []
        if checked.policy_met:
            changed = _change(uow, campaign, {"status": "active", "paused_by": None,
                                              "expected_redemptions": checked.expected,
                                              "stock_judged_seq": checked.report["as_of_seq"]},
                              actor=SYSTEM, action="activated", reason="the campaign's start came", checked=checked)
            outcome = "activated"
        else:
            notifications.campaign_event(uow, events.CAMPAIGN_REFUSED, campaign, stock_seq=checked.report["as_of_seq"],
                                         details=_summary(checked.report))
            changed = _change(uow, campaign, {"status": "paused", "paused_by": PAUSED_BY_STOCK,
                                              "expected_redemptions": checked.expected,
                                              "stock_judged_seq": checked.report["as_of_seq"]},
                              actor=SYSTEM, action="paused", reason="the campaign's start came, but live stock "
                              "cannot carry it (stock_insufficient)", checked=checked)
            outcome = "paused"
        if changed:
            uow.commit()
            return [(code, outcome)]
    return []


def _system_change(runtime: "Runtime", code: str, values: dict[str, Any], action: str, reason: str,
                   now: dt.datetime) -> bool:
    with runtime.unit_of_work(write=True) as uow:
        campaign = campaign_or_404(uow, code)
        if due_transition(campaign.status, campaign.paused_by, campaign.starts_at, campaign.ends_at, now) != "finish":
            return False
        if not _change(uow, campaign, values, actor=SYSTEM, action=action, reason=reason):
            return False
        uow.commit()
        return True


# A campaign is judged again when its revision or the stock of one of its products moved,
# or after this long (the clock alone moves its expected demand, slowly; so do the demand
# refresh and changes to the locations of its channels).
REJUDGE_SECONDS = 30.0


class StockJudgements:
    """What the watch of one process last judged each campaign on (its revision and its
    products' stock versions), so that a tick skips the campaigns for which nothing
    changed; stock events on products no campaign promotes then cost the watch nothing.
    Each campaign's products are read once per revision (they change only with an edit)."""

    def __init__(self) -> None:
        self._judged: dict[int, tuple[int, tuple[int, ...], float]] = {}
        self._products: dict[tuple[int, int], list[int]] = {}
        self.judged_count = 0       # judgements made, for the bench and the tests

    def products(self, uow: UnitOfWork, campaign: Campaign) -> list[int]:
        key = (campaign.id, campaign.revision)
        if key not in self._products:
            self._products[key] = uow.campaigns.product_ids(campaign.id)
        return self._products[key]

    def unchanged(self, campaign: Campaign, versions: tuple[int, ...]) -> bool:
        seen = self._judged.get(campaign.id)
        return (seen is not None and seen[:2] == (campaign.revision, versions)
                and time.monotonic() - seen[2] < REJUDGE_SECONDS)

    def judged(self, campaign: Campaign, versions: tuple[int, ...]) -> None:
        """Only a judgement that called for no change is remembered: a change made moves
        the revision, and one that failed (the database away) is tried at the next tick."""
        self._judged[campaign.id] = (campaign.revision, versions, time.monotonic())


def watch_stock(runtime: "Runtime", now: dt.datetime | None = None,
                judgements: StockJudgements | None = None) -> list[tuple[str, str]]:
    """Pause running campaigns whose stock policy live stock no longer meets, and resume
    those the stock paused once it does again (with ``resume_on_restock``). A campaign
    activated by overriding the check runs on until the stock meets its policy once; then
    the override lapses. The audit entry names the stock sequence number the decision was
    made at and the short pairs."""
    now = now or utcnow()
    judgements = judgements or StockJudgements()
    view = runtime.stock.view
    watched = []
    with runtime.unit_of_work() as uow:
        for campaign in uow.campaigns.running():
            product_ids = judgements.products(uow, campaign)
            # Read before the judgement: a change while it runs makes the next tick judge again.
            versions = view.product_versions(product_ids, now)
            if not judgements.unchanged(campaign, versions):
                uow.session.expunge(campaign)
                watched.append((campaign, product_ids, versions))
    done = []
    for campaign, product_ids, versions in watched:
        if not product_ids or campaign.ends_at <= now:
            continue
        try:
            step = _judge(runtime, campaign, product_ids, now)
        except Exception:
            log.exception("campaign %s could not be judged; retrying at the next tick", campaign.code)
            continue
        judgements.judged_count += 1
        if step is None:
            judgements.judged(campaign, versions)
        elif step is not _BEHIND and _watched_change(runtime, campaign, *step):
            done.append((campaign.code, step[1]))
    return done


# What _judge says of a view behind the stock a campaign's latest decision was made at:
# no change, and no judgement to remember (the next tick judges again).
_BEHIND: Any = object()


def _judge(runtime: "Runtime", campaign: Campaign, product_ids: list[int], now: dt.datetime
           ) -> tuple[dict[str, Any], str, str, int, dict[str, Any]] | None:
    """The change live stock calls for (values, action, reason, stock seq, details), if any;
    _BEHIND from a view behind the stock the campaign's latest decision was made at."""
    locations = campaign_locations(runtime, campaign)
    found = cover(runtime, campaign, product_ids, locations, campaign.expected_redemptions or 0.0, now)
    if found.as_of_seq < (campaign.stock_judged_seq or 0):
        return _BEHIND
    step = _stock_step(campaign, found.verdict.policy_met)
    if step is None:
        return None
    values, action, reason = step
    values = {**values, "stock_judged_seq": found.as_of_seq}
    details = {"counts": found.verdict.counts, "verdict": found.verdict.verdict,
               "short": _named_pairs(runtime, short_pairs(found)[:NAMED_PAIRS])}
    return values, action, reason, found.as_of_seq, details


def _stock_step(campaign: Campaign, policy_met: bool) -> tuple[dict[str, Any], str, str] | None:
    """(values, action, reason) of the change live stock calls for, if any."""
    if campaign.status == "active" and campaign.stock_override:
        if policy_met:
            return ({"status": "active", "stock_override": False}, "stock_override_lapsed",
                    "live stock meets the policy again: the next shortage pauses the campaign")
    elif campaign.status == "active" and not policy_met:
        return ({"status": "paused", "paused_by": PAUSED_BY_STOCK}, "paused",
                "live stock fell under the campaign's stock policy")
    elif campaign.status == "paused" and policy_met and StockPolicy.of(campaign.stock_policy).resume_on_restock:
        return ({"status": "active", "paused_by": None}, "resumed",
                "live stock meets the campaign's stock policy again")
    return None


def _named_pairs(runtime: "Runtime", pairs: list[tuple[int, int]]) -> list[dict[str, str | None]]:
    skus = runtime.stock.catalog.skus(p for p, _ in pairs)
    sites = runtime.stock.catalog.sites()
    return [{"sku": skus.get(p), "location": sites[loc].code if loc in sites else None} for p, loc in pairs]


def _watched_change(runtime: "Runtime", seen: Campaign, values: dict[str, Any], action: str, reason: str,
                    stock_seq: int, details: dict[str, Any]) -> bool:
    with runtime.unit_of_work(write=True) as uow:
        campaign = campaign_or_404(uow, seen.code)
        if campaign.revision != seen.revision:
            return False      # changed since it was judged: the next tick judges it again
        if not _change(uow, campaign, values, actor=SYSTEM, action=action, reason=reason, stock_seq=stock_seq,
                       details=details):
            return False
        uow.commit()
        return True
