"""Redemptions and their cancellation: race-free, idempotent, all or nothing.

A redemption names one promotion (an offer it was served, a campaign, or a coupon
code), prices its lines as cart evaluation does (promo.services.checkout.judge, with
only that promotion), and then, in one transaction:

1. stores the redemption under its idempotency key (a repeat of the key trips the unique
   index before anything else moves);
2. counts it against the campaign's cap and budget, the customer's limit and the code's
   uses, each by a conditional update (promo.adapters.checkout_repository);
3. holds the promoted lines' stock: a reservation per line through the stock event path,
   with its own event_id, expiring after ``redemption_hold_minutes`` unless the
   channel's sale consumes it (citing its reservation_id);
4. rewrites the customer's profile.

Any refusal rolls all of it back and answers 409 with a stable reason. A cancellation
gives back the counts, the code use and the held stock, once.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from promo.adapters.orm import Redemption
from promo.domain import checkout as rules
from promo.domain.codes import normalise
from promo.domain.errors import Conflict, InvalidInput, NotFound
from promo.domain.offers import parse_offer_id
from promo.domain.stock import EventType, StockEventInput
from promo.services import checkout
from promo.services.offers import shopper_of
from promo.services.stock import EventBatch, WrittenBatch, apply_within

if TYPE_CHECKING:
    from promo.bootstrap import Runtime
    from promo.services.unit_of_work import UnitOfWork

IDEMPOTENCY_MISMATCH = "idempotency_mismatch"
NOT_CANCELLABLE = "not_cancellable"
# A repeat of a key racing the first: the second insert waits for the first to commit
# or roll back, then finds its answer (or takes its place).
MAX_ATTEMPTS = 3


def redemption_ref(redemption_id: int) -> str:
    return f"rdm-{redemption_id}"


def parse_redemption_ref(value: str) -> int | None:
    if not value.startswith("rdm-") or not value[4:].isdigit() or len(value) > 24:
        return None
    return int(value[4:])


def fingerprint(body: dict[str, Any]) -> str:
    """What the request asked, without its key: a repeat of the key must ask the same."""
    asked = {name: value for name, value in body.items() if name != "idempotency_key"}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


def redeem(runtime: "Runtime", uow: "UnitOfWork", body: dict[str, Any], *, caller: str,
           now: dt.datetime | None = None) -> tuple[dict[str, Any], bool]:
    """(the redemption's answer, whether it was made now rather than replayed)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    request_hash = fingerprint(body)
    replayed = _replay(uow, body["idempotency_key"], request_hash)
    if replayed is not None:
        return replayed, False

    lines = body.get("lines") or [{"sku": body["sku"], "quantity": body["quantity"],
                                   "unit_price": body.get("unit_price")}]
    code = normalise(body["code"]) if body.get("code") else None
    cart = checkout.cart_of(runtime, uow, {**body, "lines": lines, "codes": [code] if code else []})
    codes = _codes(runtime, uow, cart, code, caller)
    campaign_id, recommendation_id = _named_campaign(runtime, uow, body, codes.get(code) if code else None)
    judged = checkout.judge(runtime, cart, codes, now=now, only=campaign_id)
    if campaign_id not in judged.campaigns:
        # Activated a moment ago, maybe by another process: look again before refusing.
        runtime.serving.refresh(audiences=False)
        judged = checkout.judge(runtime, cart, codes, now=now, only=campaign_id)
    if campaign_id not in judged.campaigns:
        raise Conflict("the campaign is not running now", reason=rules.CAMPAIGN_NOT_ACTIVE)
    if not judged.priced.applied:
        reason = judged.refused[0]["reason"] if judged.refused else rules.NOT_ELIGIBLE
        raise Conflict(f"the promotion does not apply to this redemption ({reason})", reason=reason)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return _store(runtime, uow, body, request_hash, judged, campaign_id, recommendation_id, now)
        except IntegrityError:
            replayed = _replay(uow, body["idempotency_key"], request_hash)
            if replayed is not None:
                return replayed, False
            if attempt == MAX_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _replay(uow: "UnitOfWork", key: str, request_hash: str) -> dict[str, Any] | None:
    with uow.reading() as reader:
        found = reader.checkout.redemption_by_key(key)
        if found is None:
            return None
        if found.request_hash != request_hash:
            raise Conflict("this idempotency_key was used for a different redemption", reason=IDEMPOTENCY_MISMATCH)
        return dict(found.answer or {})


def _codes(runtime: "Runtime", uow: "UnitOfWork", cart: checkout.Cart, code: str | None,
           caller: str) -> dict[str, Any]:
    """The coupon code a redemption carries, looked up; wrong ones count as guesses."""
    if code is None:
        return {}
    subjects = guess_subjects(caller, cart.customer)
    runtime.code_guesses.check(subjects)
    found = checkout.lookup_codes(uow, [code])
    if not checkout.usable_by(found.get(code), shopper_of(runtime, cart.customer).customer_id):
        runtime.code_guesses.wrong(subjects)
        raise Conflict("no such coupon code", reason=rules.CODE_UNKNOWN)
    return found


def guess_subjects(caller: str, customer: str | None) -> list[str]:
    return [f"key:{caller}"] + ([f"customer:{customer}"] if customer else [])


def _named_campaign(runtime: "Runtime", uow: "UnitOfWork", body: dict[str, Any], code_row: Any
                    ) -> tuple[int, str | None]:
    """(campaign id, recommendation id) the redemption names through its offer, campaign or code."""
    if code_row is not None:
        return code_row.campaign_id, None
    if body.get("offer_id"):
        parsed = parse_offer_id(body["offer_id"])
        if parsed is None:
            raise InvalidInput("offer_id is not an offer id", {"offer_id": ["not an offer id (off-...)"]})
        recommendation_id, campaign_id, _ = parsed
        if not any(c.id == campaign_id for c in runtime.serving.campaigns.campaigns):
            with uow.reading() as reader:
                if reader.checkout.campaign(campaign_id) is None:
                    raise NotFound(f"no campaign behind offer {body['offer_id']!r}")
        return campaign_id, recommendation_id
    live = next((c for c in runtime.serving.campaigns.campaigns if c.code == body["campaign"]), None)
    if live is not None:
        return live.id, None
    with uow.reading() as reader:
        found = reader.campaigns.get(body["campaign"])
        if found is None:
            raise NotFound(f"no campaign {body['campaign']!r}")
        return found.id, None


def _cents(amount: Decimal) -> int:
    """A discount in hundredths, rounded up: a budget is never under-counted (three-decimal
    currencies)."""
    return math.ceil(amount * 100)


def _store(runtime: "Runtime", uow: "UnitOfWork", body: dict[str, Any], request_hash: str,
           judged: checkout.Judged, campaign_id: int, recommendation_id: str | None,
           now: dt.datetime) -> tuple[dict[str, Any], bool]:
    cart, applied = judged.cart, judged.priced.applied[0]
    campaign = judged.campaigns[campaign_id]
    code_row = judged.code_of.get(campaign_id)
    discount = applied.total
    # The promotion's lines, as it was priced: a line short here is not part of it.
    held_lines = [(i, line) for i, line in enumerate(cart.lines)
                  if line.product_id in campaign.product_ids and i not in judged.blocked]
    with uow:
        repo = uow.checkout
        customer_id = uow.customers.ensure([cart.customer])[cart.customer]
        redemption = repo.add_redemption({
            "event_id": body["idempotency_key"], "campaign_id": campaign_id, "customer_id": customer_id,
            "coupon_code": code_row.code if code_row is not None else None, "redeemed_at": now,
            "discount_total": float(discount), "revenue": float(_revenue(judged, applied)),
            "channel": cart.channel, "location_id": cart.location_id,
            "code_id": code_row.id if code_row is not None else None, "offer_id": body.get("offer_id"),
            "recommendation_id": recommendation_id, "request_hash": request_hash})
        cents = _cents(discount)
        if not repo.take_from_campaign(campaign_id, cents, now):
            reason = _why_campaign_refused(repo.campaign(campaign_id), cents, now)
            raise Conflict(f"the campaign cannot take this redemption ({reason})", reason=reason)
        if not repo.take_for_customer(campaign_id, customer_id, campaign.limits.per_customer):
            raise Conflict("the customer has used this promotion as often as it allows",
                           reason=rules.PER_CUSTOMER_LIMIT)
        if code_row is not None and not repo.use_code(code_row.id):
            raise Conflict("the coupon code has been used", reason=rules.CODE_USED)
        reservations, written = _hold_stock(runtime, uow, redemption.id, held_lines, cart.location_id, now)
        uow.profiles.refresh({customer_id})
        answer = {
            "redemption_id": redemption_ref(redemption.id), "idempotency_key": body["idempotency_key"],
            "status": "redeemed", "redeemed_at": now.isoformat(), **_priced_answer(judged),
            "offer_id": body.get("offer_id"), "recommendation_id": recommendation_id,
            "reservations": reservations,
        }
        redemption.answer = answer
        uow.commit()
    if written is not None:
        written.after_commit(runtime.stock)
    _refresh_serving(runtime, cart.customer)
    return answer, True


def _revenue(judged: checkout.Judged, applied: rules.Applied) -> Decimal:
    """What the customer paid for the lines the promotion discounted."""
    unit = judged.priced.unit
    return sum((rules.to_minor(judged.cart.lines[i].amount, unit) - d for i, d in applied.line_discounts.items()),
               Decimal(0))


def _priced_answer(judged: checkout.Judged) -> dict[str, Any]:
    found = checkout.answer(judged)
    applied = found["applied"][0]
    return {"campaign": applied["campaign"], "name": applied["name"], "code": applied["code"],
            "customer": found["customer"], "channel": found["channel"], "location": found["location"],
            "currency": found["currency"], "lines": found["lines"], "subtotal": found["subtotal"],
            "discount": found["discount"], "total": found["total"]}


def _why_campaign_refused(campaign: Any, cents: int, now: dt.datetime) -> str:
    if campaign is None or campaign.status != "active" or not campaign.starts_at <= now < campaign.ends_at:
        return rules.CAMPAIGN_NOT_ACTIVE
    if campaign.max_redemptions is not None and campaign.redeemed_count >= campaign.max_redemptions:
        return rules.CAP_REACHED
    return rules.BUDGET_EXHAUSTED


def _hold_stock(runtime: "Runtime", uow: "UnitOfWork", redemption_id: int, lines: list[tuple[int, rules.Line]],
                location_id: int, now: dt.datetime) -> tuple[list[dict[str, Any]], WrittenBatch | None]:
    """Reserve each promoted line's units inside the redemption's transaction; any line
    short refuses the whole redemption (out_of_stock)."""
    if not lines:
        return [], None
    expires = now + dt.timedelta(minutes=runtime.settings.redemption_hold_minutes)
    raws, inputs, reservations = [], [], []
    for index, line in lines:
        reservation_id = f"redemption-{redemption_id}-{index}"
        event_id = f"{reservation_id}-reserve"
        raws.append({"type": EventType.RESERVE.value, "occurred_at": now, "reason": "redemption"})
        inputs.append(StockEventInput(event_id, line.product_id, location_id, EventType.RESERVE,  # type: ignore[arg-type]
                                      line.quantity, reservation_id, expires))
        reservations.append({"sku": line.sku, "reservation_id": reservation_id, "quantity": line.quantity,
                             "expires_at": expires.isoformat()})
    written = apply_within(uow, runtime.stock, EventBatch(raws, inputs), None, now)
    if written.result["refused"]:
        raise Conflict("not enough stock to hold the promoted lines here", reason=rules.OUT_OF_STOCK)
    return reservations, written


def _refresh_serving(runtime: "Runtime", customer: str | None) -> None:
    """The customer's next offers count this change at once in this process (others within
    a serving refresh)."""
    if customer:
        runtime.serving.touch([customer])
    runtime.serving.refresh(audiences=False)


# --- cancelling ---------------------------------------------------------------------------------

def cancel(runtime: "Runtime", uow: "UnitOfWork", reference: str, *, reason: str | None = None,
           now: dt.datetime | None = None) -> dict[str, Any]:
    """Give back what the redemption took (cap, budget, the customer's count, the code's use
    and the held stock), exactly once; cancelling again answers the cancelled redemption."""
    now = now or dt.datetime.now(dt.timezone.utc)
    redemption_id = parse_redemption_ref(reference)
    if redemption_id is None:
        raise NotFound(f"no redemption {reference!r}")
    written = None
    with uow:
        repo = uow.checkout
        found: Redemption | None = repo.redemption(redemption_id)
        if found is None:
            raise NotFound(f"no redemption {reference!r}")
        if found.answer is None:
            raise Conflict("an imported redemption cannot be cancelled", reason=NOT_CANCELLABLE)
        if not repo.cancel(redemption_id, now):
            uow.session.refresh(found)      # cancelled meanwhile: answer as it stands now
            return dict(found.answer or {})
        answer = dict(found.answer)
        repo.give_back_to_campaign(found.campaign_id, _cents(Decimal(answer["discount"])))
        repo.give_back_for_customer(found.campaign_id, found.customer_id)
        if found.code_id is not None:
            repo.give_back_code(found.code_id)
        released, written = _release_stock(runtime, uow, answer.get("reservations") or [], found.location_id, now)
        uow.profiles.refresh({found.customer_id})
        answer.update(status="cancelled", cancelled_at=now.isoformat(), cancel_reason=reason,
                      stock_released=released)
        found.answer = answer
        uow.commit()
    if written is not None:
        written.after_commit(runtime.stock)
    _refresh_serving(runtime, answer.get("customer"))
    return answer


def _release_stock(runtime: "Runtime", uow: "UnitOfWork", reservations: list[dict[str, Any]],
                   location_id: int | None, now: dt.datetime) -> tuple[list[dict[str, Any]], WrittenBatch | None]:
    """Release each hold still open. A hold the sale consumed is goods that left: their
    return is the till's (a receipt); an expired one holds nothing."""
    if not reservations or location_id is None:
        return [], None
    product_ids = runtime.stock.catalog.product_ids(r["sku"] for r in reservations)
    raws, inputs = [], []
    for held in reservations:
        raws.append({"type": EventType.RELEASE.value, "occurred_at": now, "reason": "redemption cancelled"})
        inputs.append(StockEventInput(f"{held['reservation_id']}-release", product_ids[held["sku"]], location_id,
                                      EventType.RELEASE, held["quantity"], held["reservation_id"]))
    written = apply_within(uow, runtime.stock, EventBatch(raws, inputs), None, now)
    refused = {r["index"] for r in written.result["refused"]}
    released = [{"sku": held["sku"], "reservation_id": held["reservation_id"], "quantity": held["quantity"]}
                for index, held in enumerate(reservations) if index not in refused]
    return released, written
