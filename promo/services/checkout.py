"""Cart evaluation: which live promotions apply to a cart, what each takes off each line,
and why the others do not. Writes nothing.

It reads what offers read (the serving snapshot, the live stock view) plus, when the
cart carries coupon codes, one indexed lookup of them. Redemptions price their lines
with the same function (``judge``), restricted to the promotion they name, so what a
cart evaluation says is what a redemption takes.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from cachetools import LRUCache

from promo.adapters.orm import CouponCode
from promo.domain import checkout as rules
from promo.domain.campaigns import is_held_out
from promo.domain.codes import normalise
from promo.domain.errors import InvalidInput, Unavailable
from promo.domain.offers import limit_refusal, serves
from promo.services.offers import READY_WAIT_SECONDS, Shopper, shopper_of
from promo.services.serving_state import CampaignSnapshot, LiveCampaign
from promo.services.stock import channel_sites

if TYPE_CHECKING:
    from promo.bootstrap import Runtime
    from promo.services.unit_of_work import UnitOfWork

DEFAULT_CURRENCY = "USD"


@dataclasses.dataclass(frozen=True)
class Cart:
    """A cart as checkout judges it: the shopper, where, its lines and its codes."""

    customer: str | None
    channel: str
    location: str
    location_id: int
    lines: tuple[rules.Line, ...]
    currency: str
    codes: tuple[str, ...]              # normalised, in the order given, without repeats


@dataclasses.dataclass(frozen=True)
class Judged:
    """A cart priced: the promotions that applied and the refusals, with the codes behind them."""

    cart: Cart
    priced: rules.Priced
    refused: tuple[dict[str, Any], ...]         # campaign (or None), reason, code
    code_of: dict[int, CouponCode]              # campaign id -> the code that unlocked it
    campaigns: dict[int, LiveCampaign]
    as_of_seq: int
    blocked: dict[int, str]                     # line index -> why no promotion may discount it


def cart_of(runtime: "Runtime", uow: "UnitOfWork", body: dict[str, Any]) -> Cart:
    """Resolve a cart body (validated by its schema): the location must serve the channel,
    each line is a product we know, and a line without ``unit_price`` costs the catalog's."""
    location_id, _ = channel_sites(runtime.stock, body["channel"], body["location"])
    assert location_id is not None
    lines_in = body["lines"]
    product_ids = runtime.stock.catalog.product_ids(line["sku"] for line in lines_in)
    errors: dict[int, dict[str, list[str]]] = {}
    for index, line in enumerate(lines_in):
        if line["sku"] not in product_ids:
            errors[index] = {"sku": [f"unknown sku {line['sku']!r}"]}
    if errors:
        raise InvalidInput("some lines name unknown products; nothing was evaluated", {"lines": errors})
    catalog = runtime.catalog_prices.of(runtime, uow, [product_ids[line["sku"]] for line in lines_in])
    currencies = {catalog[product_ids[line["sku"]]][1] for line in lines_in}
    currency = (body.get("currency") or (currencies.pop() if len(currencies) == 1 else DEFAULT_CURRENCY)).upper()
    lines = tuple(rules.Line(line["sku"], product_ids[line["sku"]], line["quantity"],
                             Decimal(line["unit_price"]) if line.get("unit_price") is not None
                             else catalog[product_ids[line["sku"]]][0])
                  for line in lines_in)
    codes = tuple(dict.fromkeys(normalise(code) for code in body.get("codes") or ()))
    return Cart(body.get("customer"), body["channel"], body["location"], location_id, lines, currency, codes)


class CatalogPrices:
    """Each product's catalog (price, currency), kept while no product changed: the
    serving state's latest product change and this process's own writes (a product PUT
    here bumps its local generation) key the whole cache, so a cart priced at catalog
    prices costs no database round trip in steady state."""

    def __init__(self, size: int = 200_000) -> None:
        self._lock = threading.Lock()
        self._version: tuple[Any, ...] | None = None
        self._prices: LRUCache[int, tuple[Decimal, str]] = LRUCache(maxsize=size)

    def of(self, runtime: "Runtime", uow: "UnitOfWork", product_ids: Iterable[int]) -> dict[int, tuple[Decimal, str]]:
        state = runtime.serving
        version = (state.products_changed_at, state.local_generation)
        wanted = set(product_ids)
        with self._lock:
            if version != self._version:
                self._prices.clear()
                self._version = version
            found = {pid: self._prices[pid] for pid in wanted if pid in self._prices}
        missing = wanted - found.keys()
        if missing:
            with uow.reading() as reader:
                read = {pid: (Decimal(str(price)).quantize(Decimal("0.01")), currency)
                        for pid, price, currency in reader.products.prices(missing)}
            with self._lock:
                if version == self._version:
                    self._prices.update(read)
            found.update(read)
        return found


def evaluate(runtime: "Runtime", uow: "UnitOfWork", body: dict[str, Any], *,
             now: dt.datetime | None = None) -> dict[str, Any]:
    """What each promotion takes off the cart, and why the others do not (README, "Checkout")."""
    cart = cart_of(runtime, uow, body)
    codes = lookup_codes(uow, cart.codes)
    judged = judge(runtime, cart, codes, now=now or dt.datetime.now(dt.timezone.utc))
    return answer(judged)


def usable_by(row: CouponCode | None, customer_id: int | None) -> bool:
    """Whether a looked-up code exists for this shopper: a code assigned to another
    customer is, to anyone else, a code that does not exist (a guess learns nothing)."""
    return row is not None and (row.customer_id is None or row.customer_id == customer_id)


def lookup_codes(uow: "UnitOfWork", codes: Sequence[str]) -> dict[str, CouponCode]:
    if not codes:
        return {}
    with uow.reading() as reader:
        found = reader.checkout.codes(codes)
        for row in found.values():
            reader.session.expunge(row)
    return found


def judge(runtime: "Runtime", cart: Cart, codes: dict[str, CouponCode], *, now: dt.datetime,
          only: int | None = None) -> Judged:
    """Price ``cart`` with the live promotions the shopper may use here, and say why each
    other candidate does not apply.

    ``only``: the one campaign a redemption names. Its limits (cap, budget, the customer's
    uses) are then left to the redemption's transaction, which holds them exactly: this
    process's tallies may be a refresh behind another's redemptions and cancellations."""
    state = runtime.serving
    if not state.ready(READY_WAIT_SECONDS):
        raise Unavailable("this process is still loading the live campaigns; retry in a moment",
                          reason="serving_state_loading")
    snapshot = state.campaigns
    shopper = shopper_of(runtime, cart.customer)
    live = {c.id: c for c in snapshot.campaigns if c.live_at(now)}
    in_cart = {line.product_id for line in cart.lines}

    refused: list[dict[str, Any]] = []
    code_of: dict[int, CouponCode] = {}
    for code in cart.codes:
        row = codes.get(code)
        if not usable_by(row, shopper.customer_id):
            refused.append({"campaign": None, "code": code, "reason": rules.CODE_UNKNOWN})
        elif row.max_uses is not None and row.uses >= row.max_uses:
            refused.append({"campaign": _campaign_code(snapshot, row.campaign_id), "code": code,
                            "reason": rules.CODE_USED})
        elif row.campaign_id not in live:
            refused.append({"campaign": _campaign_code(snapshot, row.campaign_id), "code": code,
                            "reason": rules.CAMPAIGN_NOT_ACTIVE})
        else:
            code_of.setdefault(row.campaign_id, row)

    candidates = [c for c in live.values() if (only is None or c.id == only)
                  and (c.id in code_of or not c.product_ids.isdisjoint(in_cart))]
    promotions: list[rules.Promotion] = []
    for campaign in candidates:
        reason = _refusal(runtime, campaign, shopper, cart, code_of, check_limits=only is None)
        if reason is not None:
            refused.append({"campaign": campaign.code, "code": _code_text(code_of, campaign.id), "reason": reason})
            continue
        tally = state.tally(campaign.id)
        budget_left = None if campaign.budget is None or only is not None else \
            campaign.budget - Decimal(str(tally.discount_spent)).quantize(Decimal("0.01"))
        promotions.append(rules.Promotion(campaign.id, campaign.code, campaign.discount, campaign.priority,
                                          campaign.exclusive, campaign.product_ids, budget_left))
    blocked = _out_of_stock(runtime, cart, promotions)
    priced = rules.price_cart(cart.lines, promotions, cart.currency, blocked)
    refused += [{"campaign": promotion.code, "code": _code_text(code_of, promotion.campaign_id), "reason": reason}
                for promotion, reason in priced.refused]
    return Judged(cart, priced, tuple(refused), code_of, live, runtime.stock.view.as_of_seq, blocked)


def _campaign_code(snapshot: CampaignSnapshot, campaign_id: int) -> str | None:
    return next((c.code for c in snapshot.campaigns if c.id == campaign_id), None)


def _code_text(code_of: dict[int, CouponCode], campaign_id: int) -> str | None:
    found = code_of.get(campaign_id)
    return found.code if found is not None else None


def _refusal(runtime: "Runtime", campaign: LiveCampaign, shopper: Shopper, cart: Cart,
             code_of: dict[int, CouponCode], *, check_limits: bool) -> str | None:
    """Why the shopper may not use the campaign here, in the order offers judge it."""
    if serves(campaign.channels, campaign.location_ids, cart.channel, (cart.location_id,)):
        return rules.NOT_ELIGIBLE
    if campaign.targeting_type != "everyone":
        audience = runtime.serving.audiences.get(campaign.id)
        if not shopper.personal or audience is None or audience.member(shopper.customer_id) is None:  # type: ignore[arg-type]
            return rules.NOT_ELIGIBLE
    if shopper.external_id is not None and campaign.holdout_percent > 0 \
            and is_held_out(campaign.code, shopper.external_id, campaign.holdout_percent):
        return rules.HOLDOUT
    if check_limits:
        refusal = limit_refusal(campaign.limits, runtime.serving.tally(campaign.id), shopper.customer_id)
        if refusal is not None:
            return refusal
    if campaign.codes_required and campaign.id not in code_of:
        return rules.CODE_REQUIRED
    return None


def _out_of_stock(runtime: "Runtime", cart: Cart, promotions: Sequence[rules.Promotion]) -> dict[int, str]:
    """Lines of promoted products asking more than is available where the cart is fulfilled."""
    promoted = set().union(*(p.product_ids for p in promotions)) if promotions else set()
    wanted = [(i, line) for i, line in enumerate(cart.lines) if line.product_id in promoted]
    if not wanted:
        return {}
    quantity: dict[int, int] = {}
    for _, line in wanted:      # the same product on two lines draws on the same shelf
        quantity[line.product_id] = quantity.get(line.product_id, 0) + line.quantity  # type: ignore[index]
    ids = sorted(quantity)
    available = dict(zip(ids, runtime.stock.view.available_matrix(ids, [cart.location_id])[:, 0].tolist()))
    return {i: rules.OUT_OF_STOCK for i, line in wanted if quantity[line.product_id] > available[line.product_id]}  # type: ignore[index]


def money(amount: Decimal, unit: Decimal) -> str:
    return str(rules.to_minor(amount, unit))


def answer(judged: Judged) -> dict[str, Any]:
    priced, cart, unit = judged.priced, judged.cart, judged.priced.unit
    per_line: dict[int, list[str]] = {}
    for applied in priced.applied:
        for index in applied.line_discounts:
            per_line.setdefault(index, []).append(applied.promotion.code)
    lines = []
    for index, (line, amount, discount) in enumerate(zip(cart.lines, priced.line_amounts, priced.line_discounts)):
        # Amounts and discounts are in the minor unit already: str() writes them as they are.
        lines.append({"index": index, "sku": line.sku, "quantity": line.quantity,
                      "unit_price": money(line.unit_price, unit), "amount": str(amount),
                      "discount": str(discount), "total": str(amount - discount),
                      "promotions": per_line.get(index, []), "not_discounted": judged.blocked.get(index)})
    applied = []
    for found in priced.applied:
        campaign = judged.campaigns[found.promotion.campaign_id]
        applied.append({
            "campaign": campaign.code, "name": campaign.name, "discount": campaign.discount.as_dict(),
            "code": _code_text(judged.code_of, campaign.id), "priority": campaign.priority,
            "exclusive": campaign.exclusive, "amount": money(found.total, unit),
            "lines": [{"index": i, "sku": cart.lines[i].sku, "discount": money(d, unit)}
                      for i, d in sorted(found.line_discounts.items())]})
    return {
        "customer": cart.customer, "channel": cart.channel, "location": cart.location, "currency": cart.currency,
        "lines": lines, "applied": applied, "not_applied": list(judged.refused),
        "subtotal": money(priced.subtotal, unit), "discount": money(priced.discount, unit),
        "total": money(priced.total, unit), "stock_as_of_seq": judged.as_of_seq,
    }
