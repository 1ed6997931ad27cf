"""Checkout rules that need no database: what promotions take off a cart, how they stack,
and the stable reasons a promotion does not apply.

Amounts are exact decimals. Each promotion's discount on a line is rounded once, half
up, to the currency's minor unit; a line's discounts never exceed what the line costs,
and the cart's totals are the sums of its lines (README, "Checkout").

Stacking. Promotions are applied one after another, in this order: higher ``priority``
first, then exclusive ones, then the bigger discount on the cart (alone), then the
campaign id. An exclusive promotion takes its lines for itself: it does not apply to a
line an earlier promotion discounted, and no later promotion applies to its lines
(``exclusive_conflict``). Non-exclusive promotions stack: each works on what the lines
cost after the earlier ones (a percent off the discounted price, an amount off what is
left, a fixed price only where it is lower).

Buy X get Y is computed on the cart: every unit of the promotion's products in the cart,
most expensive first; each full group of X + Y units gives its Y cheapest units free
(fewer than X + Y units: ``min_quantity``).
"""
from __future__ import annotations

import dataclasses
import functools
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Mapping, Sequence

from promo.domain.campaigns import Discount

# Why a promotion does not apply to a cart (stable codes; README, "Checkout").
CAMPAIGN_NOT_ACTIVE = "campaign_not_active"
NOT_ELIGIBLE = "not_eligible"
HOLDOUT = "holdout"
PER_CUSTOMER_LIMIT = "per_customer_limit"
CAP_REACHED = "max_redemptions_reached"
BUDGET_EXHAUSTED = "budget_exhausted"
OUT_OF_STOCK = "out_of_stock"
CODE_UNKNOWN = "code_unknown"
CODE_USED = "code_used"
CODE_REQUIRED = "code_required"
MIN_QUANTITY = "min_quantity"
EXCLUSIVE_CONFLICT = "exclusive_conflict"
NO_SAVING = "no_saving"
NO_PRODUCT_IN_CART = "no_product_in_cart"

# Minor units of the currencies that do not have two decimals (ISO 4217).
_MINOR_DIGITS = {"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
                 "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
                 "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3}


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of a currency: 0.01 for most, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-_MINOR_DIGITS.get(currency.upper(), 2))


def to_minor(amount: Decimal, unit: Decimal) -> Decimal:
    return amount.quantize(unit, rounding=ROUND_HALF_UP)


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    product_id: int | None          # None: not a product we know (priced, never discounted)
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclasses.dataclass(frozen=True)
class Promotion:
    """A campaign as a cart sees it: what it takes off which products, how it stacks, and
    how much of its budget is left (None: no budget)."""

    campaign_id: int
    code: str                       # the campaign's id in the API
    discount: Discount
    priority: int
    exclusive: bool
    product_ids: frozenset[int]
    budget_left: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Applied:
    promotion: Promotion
    line_discounts: dict[int, Decimal]      # line index -> discount, rounded once

    @property
    def total(self) -> Decimal:
        return sum(self.line_discounts.values(), Decimal(0))


@dataclasses.dataclass(frozen=True)
class Priced:
    """A cart with its promotions: what applied, what did not and why, per line and in all."""

    lines: tuple[Line, ...]
    applied: tuple[Applied, ...]
    refused: tuple[tuple[Promotion, str], ...]
    unit: Decimal

    @functools.cached_property
    def line_amounts(self) -> tuple[Decimal, ...]:
        """What each line costs before discounts, rounded to the minor unit."""
        return tuple(to_minor(line.amount, self.unit) for line in self.lines)

    @functools.cached_property
    def line_discounts(self) -> tuple[Decimal, ...]:
        """Each line's discounts, summed over the promotions that applied."""
        found = [self.unit * 0] * len(self.lines)      # 0.00 in cents, 0 in yen
        for applied in self.applied:
            for index, amount in applied.line_discounts.items():
                found[index] += amount
        return tuple(found)

    def line_discount(self, index: int) -> Decimal:
        return self.line_discounts[index]

    @property
    def subtotal(self) -> Decimal:
        return sum(self.line_amounts, Decimal(0))

    @property
    def discount(self) -> Decimal:
        return sum(self.line_discounts, Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.subtotal - self.discount


def price_cart(lines: Sequence[Line], promotions: Iterable[Promotion], currency: str,
               blocked: Mapping[int, str] | None = None) -> Priced:
    """Apply ``promotions`` (those the shopper may use) to ``lines`` in stacking order.

    ``blocked`` names lines no promotion may discount, with the reason (a line out of stock
    where the cart is fulfilled): a promotion left with no line is refused with the reason.
    """
    unit = minor_unit(currency)
    blocked = blocked or {}
    # What each line costs so far: exact, then rounded per promotion as each applies.
    left = [to_minor(line.amount, unit) for line in lines]
    taken_by_exclusive: set[int] = set()
    discounted: set[int] = set()
    candidates = []
    for promotion in promotions:
        own = [i for i, line in enumerate(lines) if line.product_id in promotion.product_ids]
        alone = _discounts(promotion.discount, lines, own, left, unit)
        candidates.append((promotion, own, sum(alone.values(), Decimal(0)) if isinstance(alone, dict) else Decimal(0)))
    candidates.sort(key=lambda c: (-c[0].priority, not c[0].exclusive, -c[2], c[0].campaign_id))

    applied: list[Applied] = []
    refused: list[tuple[Promotion, str]] = []
    for promotion, own, _ in candidates:
        if not own:
            refused.append((promotion, NO_PRODUCT_IN_CART))
            continue
        usable = [i for i in own if i not in blocked]
        if not usable:
            refused.append((promotion, blocked[own[0]]))
            continue
        free = [i for i in usable if i not in taken_by_exclusive]
        if not free or (promotion.exclusive and any(i in discounted for i in free)):
            refused.append((promotion, EXCLUSIVE_CONFLICT))
            continue
        found = _discounts(promotion.discount, lines, free, left, unit)
        if isinstance(found, str):
            refused.append((promotion, found))
            continue
        found = {i: d for i, d in found.items() if d > 0}
        if not found:
            refused.append((promotion, NO_SAVING))
            continue
        total = sum(found.values(), Decimal(0))
        if promotion.budget_left is not None and total > promotion.budget_left:
            refused.append((promotion, BUDGET_EXHAUSTED))
            continue
        for i, amount in found.items():
            left[i] -= amount
            discounted.add(i)
            if promotion.exclusive:
                taken_by_exclusive.add(i)
        applied.append(Applied(promotion, found))
    return Priced(tuple(lines), tuple(applied), tuple(refused), unit)


def _discounts(discount: Discount, lines: Sequence[Line], indexes: list[int], left: list[Decimal],
               unit: Decimal) -> dict[int, Decimal] | str:
    """What ``discount`` takes off each of the lines ``indexes``, given what each costs so
    far (``left``); or the reason it takes nothing (min_quantity)."""
    if discount.type == "buy_x_get_y":
        return _buy_x_get_y(discount, lines, indexes, left, unit)
    found: dict[int, Decimal] = {}
    for i in indexes:
        quantity, remaining = lines[i].quantity, left[i]
        if discount.type == "percent":
            amount = remaining * discount.value / Decimal(100)      # type: ignore[operator]
        elif discount.type == "amount_off":
            amount = discount.value * quantity                       # type: ignore[operator]
        else:                                                       # fixed_price: pay at most value a unit
            amount = remaining - discount.value * quantity           # type: ignore[operator]
        found[i] = min(remaining, max(Decimal(0), to_minor(amount, unit)))
    return found


def _buy_x_get_y(discount: Discount, lines: Sequence[Line], indexes: list[int], left: list[Decimal],
                 unit: Decimal) -> dict[int, Decimal] | str:
    group = (discount.buy or 0) + (discount.get or 0)
    # Every unit at what it costs now (a line's remaining amount shared by its units),
    # most expensive first; ties in line order, so the answer never depends on chance.
    units = sorted(((left[i] / lines[i].quantity, i) for i in indexes for _ in range(lines[i].quantity)),
                   key=lambda unit_line: (-unit_line[0], unit_line[1]))
    if len(units) < group:
        return MIN_QUANTITY
    free: dict[int, Decimal] = {}
    for start in range(0, len(units) - group + 1, group):
        for price, i in units[start + (discount.buy or 0):start + group]:
            free[i] = free.get(i, Decimal(0)) + price
    return {i: min(left[i], to_minor(amount, unit)) for i, amount in free.items()}
