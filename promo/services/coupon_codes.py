"""Coupon codes: issued by marketing (one shared code, or unique codes in bulk, optionally
one per customer), listed and exported, and shown to their customers with the in-stock
deals they unlock. A campaign that has issued codes is redeemed only with one of them."""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Iterator

from promo.adapters.orm import CouponCode
from promo.domain import codes as rules
from promo.domain.errors import Conflict, InvalidInput, NotFound
from promo.domain.offers import quantity_band
from promo.services.campaigns import campaign_or_404
from promo.services.pages import Page, page_of
from promo.services.stock import channel_sites

if TYPE_CHECKING:
    from promo.bootstrap import Runtime
    from promo.services.unit_of_work import UnitOfWork

SHARED, UNIQUE = "shared", "unique"
CLOSED_STATUSES = ("ended", "archived")
CSV_COLUMNS = ("code", "customer", "max_uses", "uses")
MAX_COUNT = 100_000


def issue(uow: "UnitOfWork", campaign_code: str, body: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Issue a shared code (``code``) or ``count`` unique codes of ``pattern`` (one per
    customer of ``customers`` when given); all or nothing."""
    with uow:
        campaign = campaign_or_404(uow, campaign_code)
        if campaign.status in CLOSED_STATUSES:
            raise Conflict(f"the campaign is {campaign.status}: it issues no more codes", reason="campaign_over")
        customers = body.get("customers") or []
        customer_ids = uow.customers.ensure(customers) if customers else {}
        if body.get("code") is not None:
            code = rules.normalise(body["code"])
            if uow.checkout.existing_codes([code]):
                raise Conflict(f"the code {code!r} exists already", reason="code_exists")
            rows = [_row(campaign.id, code, SHARED, None, body.get("max_uses"))]
        else:
            count = len(customers) if customers else body["count"]
            pattern = (body.get("pattern") or rules.DEFAULT_PATTERN).upper()
            problems = rules.pattern_errors(pattern, count)
            if problems:
                raise InvalidInput("the pattern cannot carry that many codes", {"pattern": problems})
            made = rules.generate(pattern, count, uow.checkout.existing_codes)
            owners = [customer_ids[c] for c in customers] if customers else [None] * count
            max_uses = body.get("max_uses", 1)
            rows = [_row(campaign.id, code, UNIQUE, owner, max_uses) for code, owner in zip(made, owners)]
        uow.checkout.add_codes(rows)
        uow.checkout.require_codes(campaign.id)
        uow.campaigns.add_event(campaign.id, actor=actor, action="codes_issued",
                                details={"count": len(rows), "kind": rows[0]["kind"]})
        uow.commit()
    owner_of = {id_: external for external, id_ in customer_ids.items()}
    return {"campaign": campaign_code, "issued": len(rows),
            "codes": [_view_row(row, owner_of) for row in rows]}


def _row(campaign_id: int, code: str, kind: str, customer_id: int | None, max_uses: int | None) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "code": code, "kind": kind, "customer_id": customer_id,
            "max_uses": max_uses, "uses": 0}


def _view_row(row: dict[str, Any], owner_of: dict[int, str]) -> dict[str, Any]:
    return {"code": row["code"], "kind": row["kind"], "customer": owner_of.get(row["customer_id"]),
            "max_uses": row["max_uses"], "uses": row["uses"]}


def _view(code: CouponCode, owner_of: dict[int, str]) -> dict[str, Any]:
    return {"code": code.code, "kind": code.kind, "customer": owner_of.get(code.customer_id),  # type: ignore[arg-type]
            "max_uses": code.max_uses, "uses": code.uses}


def codes_page(uow: "UnitOfWork", campaign_code: str, *, after: str | None, limit: int) -> Page[dict[str, Any]]:
    with uow:
        campaign = campaign_or_404(uow, campaign_code)
        rows = uow.checkout.codes_page(campaign.id, after=int(after) if after else None, limit=limit + 1)
        owner_of = _owners(uow, rows)
        return page_of(rows, limit, key=lambda row: str(row.id), view=lambda row: _view(row, owner_of))


def _owners(uow: "UnitOfWork", rows: list[CouponCode]) -> dict[int, str]:
    ids = {row.customer_id for row in rows if row.customer_id is not None}
    return uow.customers.external_ids(ids) if ids else {}


def csv_rows(uow: "UnitOfWork", campaign_code: str, chunk: int = 5000) -> Iterator[str]:
    """Every code of the campaign as CSV lines, header first (the campaign is looked up
    before the first line, so an unknown one is still a 404)."""
    with uow:
        campaign_id = campaign_or_404(uow, campaign_code).id

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        after = None
        while True:
            with uow:
                rows = uow.checkout.codes_page(campaign_id, after=after, limit=chunk)
                owner_of = _owners(uow, rows)
                for row in rows:
                    writer.writerow([row.code, owner_of.get(row.customer_id, ""),  # type: ignore[arg-type]
                                     "" if row.max_uses is None else row.max_uses, row.uses])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(rows) < chunk:
                return
            after = rows[-1].id

    return lines()


def codes_of_customer(runtime: "Runtime", uow: "UnitOfWork", customer: str, *, channel: str,
                      location: str) -> dict[str, Any]:
    """The customer's own codes with uses left, of campaigns live now, each with the deals
    it unlocks in stock at the location (what the mobile app shows)."""
    location_id, _ = channel_sites(runtime.stock, channel, location)
    known = runtime.serving.customers.get(customer)
    if known is None:
        raise NotFound(f"no customer with id {customer!r}")
    with uow:
        rows = uow.checkout.codes_of_customer(known[0])
        found = [(row.code, row.campaign_id, row.max_uses, row.uses) for row in rows]
    snapshot = runtime.serving.campaigns
    live = {c.id: c for c in snapshot.campaigns}
    answers = []
    for code, campaign_id, max_uses, uses in found:
        campaign = live.get(campaign_id)
        if campaign is None:
            continue
        pairs = campaign.pairs
        products = snapshot.pair_product[pairs].tolist()
        available = runtime.stock.view.available_matrix(products, [location_id])[:, 0].tolist() if products else []
        deals = []
        for at, product_id, units in zip(pairs.tolist(), products, available):
            if units <= 0:
                continue
            info = snapshot.products[product_id]
            deals.append({"sku": info.sku, "name": info.name, "price": info.price_value,
                          "final_price": snapshot.pair_final_price[at], "currency": info.currency,
                          "availability": {"in_stock": True, "band": quantity_band(units), "location": location}})
        answers.append({"code": code, "campaign": campaign.view, "discount": campaign.discount_view,
                        "uses_left": None if max_uses is None else max_uses - uses, "ends_at": campaign.ends_at,
                        "deals": deals})
    return {"customer": customer, "channel": channel, "location": location, "codes": answers}
