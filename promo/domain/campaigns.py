"""Campaign rules that need no database: the lifecycle, what may change in which status,
who is held out, what a discount takes off, and how far stock covers expected demand.

Services apply these rules inside their transaction; the API and the web app show the
same tables (README, "Campaigns").
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Mapping

import numpy as np

STATUSES = ("draft", "scheduled", "active", "paused", "ended", "archived")
CHANNELS = ("store", "web", "mobile")
DISCOUNT_TYPES = ("percent", "amount_off", "fixed_price", "buy_x_get_y")
TARGETING_TYPES = ("everyone", "profile", "model")
ON_STOCKOUT = ("exclude_product", "pause_campaign")
MAX_HOLDOUT_PERCENT = 50

# What a person (or a client) may ask: action -> (statuses it may start from, status it leads to).
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "schedule": (frozenset({"draft"}), "scheduled"),
    "activate": (frozenset({"draft", "scheduled"}), "active"),
    "pause": (frozenset({"active"}), "paused"),
    "resume": (frozenset({"paused"}), "active"),
    "end": (frozenset({"scheduled", "active", "paused"}), "ended"),
    "archive": (frozenset({"draft", "ended"}), "archived"),
}

# Why a campaign is paused: by a person, or by the stock watch (which alone resumes it).
PAUSED_BY_PERSON = "manual"
PAUSED_BY_STOCK = "stock"

# Fields a campaign body has; which of them may change in which status. A campaign that
# customers may already have seen keeps its promise: its products, discount, targeting,
# channels, holdout and start stay as they were; its end, limits, stacking and stock
# policy may change.
FIELDS = ("name", "description", "starts_at", "ends_at", "channels", "locations", "products", "discount",
          "targeting", "limits", "priority", "exclusive", "holdout_percent", "stock_policy")
LIVE_EDITABLE = frozenset({"name", "description", "ends_at", "limits", "priority", "exclusive", "stock_policy"})
EDITABLE: dict[str, frozenset[str]] = {
    "draft": frozenset(FIELDS),
    "scheduled": frozenset(FIELDS),
    "active": LIVE_EDITABLE,
    "paused": LIVE_EDITABLE,
    "ended": frozenset({"name", "description"}),
    "archived": frozenset(),
}


class TransitionRefused(Exception):
    """An action the campaign's status (or dates) does not allow; ``reason`` is a stable code."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.message = message
        self.reason = reason


def actions_from(status: str, *, imported: bool = False) -> list[str]:
    """What may be asked of a campaign in this status (of imported history, only archive)."""
    return [action for action, (sources, _) in ACTIONS.items()
            if status in sources and (not imported or action == "archive")]


def next_status(action: str, status: str) -> str:
    """The status ``action`` leads to from ``status``, or TransitionRefused."""
    sources, target = ACTIONS[action]
    if status not in sources:
        allowed = ", ".join(sorted(sources))
        raise TransitionRefused(f"cannot {action} a campaign that is {status} (only from: {allowed})",
                                reason="invalid_transition")
    return target


def check_dates(action: str, starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime) -> None:
    """Dates an action needs: nothing goes live after its end, nor before its start."""
    if action in ("schedule", "activate", "resume") and ends_at <= now:
        raise TransitionRefused(f"the campaign ended at {ends_at.isoformat()}; change ends_at first",
                                reason="campaign_over")
    if action == "activate" and starts_at > now:
        raise TransitionRefused(f"the campaign starts at {starts_at.isoformat()}; schedule it, or move "
                                "starts_at to now", reason="not_started")


def fields_not_editable(status: str, changed: Iterable[str]) -> list[str]:
    return sorted(set(changed) - EDITABLE[status])


def due_transition(status: str, paused_by: str | None, starts_at: dt.datetime, ends_at: dt.datetime,
                   now: dt.datetime) -> str | None:
    """The transition the clock makes by itself: ``start`` a scheduled campaign whose
    start has come, ``finish`` a running or paused one whose end has come."""
    if status in ("scheduled", "active", "paused") and ends_at <= now:
        return "finish"
    if status == "scheduled" and starts_at <= now:
        return "start"
    return None


# --- holdout --------------------------------------------------------------------------------

HOLDOUT_BUCKETS = 10_000


def holdout_bucket(campaign_code: str, customer_id: str) -> int:
    """A customer's bucket (0..9999) for one campaign, from a hash of both ids: the same in
    every process, on every machine and after a restart (Python's hash() is not), and
    independent between campaigns."""
    digest = hashlib.blake2b(f"{campaign_code}\x1f{customer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % HOLDOUT_BUCKETS


def is_held_out(campaign_code: str, customer_id: str, holdout_percent: float) -> bool:
    return holdout_bucket(campaign_code, customer_id) < round(holdout_percent * HOLDOUT_BUCKETS / 100)


# --- discounts ------------------------------------------------------------------------------

CENT = Decimal("0.01")


@dataclasses.dataclass(frozen=True)
class Discount:
    type: str
    value: Decimal | None = None
    buy: int | None = None
    get: int | None = None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> "Discount":
        value = body.get("value")
        return cls(type=body["type"], value=None if value is None else Decimal(str(value)),
                   buy=body.get("buy"), get=body.get("get"))

    def as_dict(self) -> dict[str, Any]:
        if self.type == "buy_x_get_y":
            return {"type": self.type, "buy": self.buy, "get": self.get}
        return {"type": self.type, "value": float(self.value)}  # type: ignore[arg-type]

    @property
    def units_per_redemption(self) -> int:
        """Units one redemption takes off the shelf (a whole bundle for buy X get Y)."""
        return (self.buy or 0) + (self.get or 0) if self.type == "buy_x_get_y" else 1

    def unit_price(self, price: Decimal) -> Decimal:
        """What one unit costs the customer with the discount, rounded once to the cent;
        for buy X get Y, the average over a full bundle. Never below zero, never above
        the price (a fixed price above the shelf price takes nothing off)."""
        if self.type == "percent":
            after = price * (Decimal(100) - self.value) / Decimal(100)  # type: ignore[operator]
        elif self.type == "amount_off":
            after = price - self.value  # type: ignore[operator]
        elif self.type == "fixed_price":
            after = min(price, self.value)  # type: ignore[type-var]
        else:
            after = price * Decimal(self.buy) / Decimal(self.buy + self.get)  # type: ignore[operator]
        return max(Decimal(0), after).quantize(CENT, rounding=ROUND_HALF_UP)

    def saving(self, price: Decimal) -> Decimal:
        """What one unit's discount is worth to the customer."""
        return price.quantize(CENT, rounding=ROUND_HALF_UP) - self.unit_price(price)


def discount_errors(body: Mapping[str, Any]) -> list[str]:
    """What is wrong with a discount body whose type is known (the schema checked types)."""
    kind = body["type"]
    if kind == "buy_x_get_y":
        missing = [name for name in ("buy", "get") if body.get(name) is None]
        extra = ["value"] if body.get("value") is not None else []
    else:
        missing = ["value"] if body.get("value") is None else []
        extra = [name for name in ("buy", "get") if body.get(name) is not None]
    problems = [f"{kind} needs {name!r}" for name in missing]
    problems += [f"{kind} takes no {name!r}" for name in extra]
    if not problems and kind == "percent" and not 0 < body["value"] <= 100:
        problems.append("a percent is more than 0 and at most 100")
    if not problems and kind == "amount_off" and body["value"] <= 0:
        problems.append("an amount off is more than 0")
    return problems


# --- stock cover ------------------------------------------------------------------------------

OK, AT_RISK, SHORT = 0, 1, 2
COVER_STATUSES = ("ok", "at_risk", "short")
# A pair within this factor of a policy threshold is at risk: one busy day from short.
AT_RISK_MARGIN = 1.5


@dataclasses.dataclass(frozen=True)
class StockPolicy:
    """When stock is too low to promote a product at a location.

    A (product, location) is short when its available units are below
    ``min_available_per_location``, or below ``min_cover_ratio`` times the units the
    campaign is expected to take there. ``on_stockout`` says what then happens:
    ``exclude_product`` stops offering it there (the campaign runs on with the rest, and is
    refused activation only when nothing at all is left to offer); ``pause_campaign``
    pauses the whole campaign. ``resume_on_restock`` lets the stock watch resume a
    campaign it paused once no pair is short.
    """

    min_cover_ratio: float = 1.0
    min_available_per_location: int = 1
    on_stockout: str = "exclude_product"
    resume_on_restock: bool = True

    @classmethod
    def of(cls, body: Mapping[str, Any] | None) -> "StockPolicy":
        return cls(**{k: v for k, v in (body or {}).items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cover_statuses(available: np.ndarray, expected: np.ndarray, policy: StockPolicy) -> np.ndarray:
    """OK, AT_RISK or SHORT for each pair, from its available units and expected units."""
    available = np.asarray(available, dtype=float)
    needed = np.maximum(float(policy.min_available_per_location), policy.min_cover_ratio * np.asarray(expected, float))
    status = np.full(available.shape, OK, dtype=np.int8)
    status[available < needed * AT_RISK_MARGIN] = AT_RISK
    status[(available < needed) | (available <= 0)] = SHORT
    return status


@dataclasses.dataclass(frozen=True)
class CoverVerdict:
    verdict: str          # ok | at_risk | short
    policy_met: bool
    counts: dict[str, int]


def overall_verdict(statuses: np.ndarray, policy: StockPolicy) -> CoverVerdict:
    """The campaign's verdict from its pairs' statuses: with ``pause_campaign`` one short
    pair fails the policy; with ``exclude_product`` only having nothing left to offer does."""
    counts = {name: int(np.count_nonzero(statuses == code)) for code, name in enumerate(COVER_STATUSES)}
    if policy.on_stockout == "pause_campaign":
        met = counts["short"] == 0
    else:
        met = counts["ok"] + counts["at_risk"] > 0
    if not met:
        verdict = "short"
    elif counts["short"] or counts["at_risk"]:
        verdict = "at_risk"
    else:
        verdict = "ok"
    return CoverVerdict(verdict=verdict, policy_met=met, counts=counts)


def remaining_share(starts_at: dt.datetime, ends_at: dt.datetime, now: dt.datetime) -> float:
    """The part of a campaign's run still ahead (1 before it starts, 0 after it ends):
    a running campaign needs stock only for the demand still to come."""
    total = (ends_at - starts_at).total_seconds()
    if total <= 0:
        return 0.0
    return float(min(1.0, max(0.0, (ends_at - max(now, starts_at)).total_seconds() / total)))
