"""Past campaigns: what was promoted, to whom, and who redeemed.

The redemption-response model learns from this history. Campaigns created by marketing
will live in the same table (the campaigns capability extends it); for now the history
arrives through the demo loader and these use cases.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from promo.domain.batches import merge_item_errors, unknown_reference_errors
from promo.domain.errors import InvalidInput
from promo.services.unit_of_work import UnitOfWork


@dataclasses.dataclass
class HistoryImport:
    campaigns: int = 0
    products: int = 0
    exposures: int = 0
    unknown_skus: int = 0


def import_campaigns(uow: UnitOfWork, records: Sequence[dict[str, Any]], *,
                     refresh_profiles: bool = True) -> HistoryImport:
    """Create or replace ended campaigns by code, with their products and audiences.

    Each record: code, name, type, starts_at, ends_at, skus, targeted (customer ids) and
    optionally holdout (customer ids). Skus missing from the catalog are skipped and
    counted (a coupon may name products the retailer no longer lists); customers are
    created when unknown, as interactions do. The profiles of everyone added to or
    dropped from an audience are refreshed (their count of campaigns targeted changes).
    """
    report = HistoryImport()
    concerned: set[int] = set()
    with uow:
        product_ids = uow.products.ids_for(sku for record in records for sku in record["skus"])
        customer_ids = uow.customers.ensure(
            customer for record in records for customer in (*record["targeted"], *record.get("holdout", ())))
        campaign_ids = uow.campaigns.upsert([
            {"code": r["code"], "name": r["name"], "type": r.get("type"), "status": "ended",
             "starts_at": r["starts_at"], "ends_at": r["ends_at"], "source": r.get("source", "import"),
             "attributes": r.get("attributes", {})}
            for r in records])
        for record in records:
            campaign_id = campaign_ids[record["code"]]
            known = [product_ids[sku] for sku in record["skus"] if sku in product_ids]
            report.unknown_skus += len(record["skus"]) - len(known)
            uow.campaigns.replace_products(campaign_id, known)
            cohorts = {customer_ids[c]: "holdout" for c in record.get("holdout", ())}
            cohorts.update({customer_ids[c]: "targeted" for c in record["targeted"]})
            concerned |= uow.campaigns.replace_exposures(campaign_id, cohorts) | cohorts.keys()
            report.products += len(set(known))
            report.exposures += len(cohorts)
        report.campaigns = len(records)
        if refresh_profiles:
            uow.profiles.refresh(concerned)
        uow.commit()
    return report


def record_redemptions(uow: UnitOfWork, events: Sequence[dict[str, Any]], *,
                       refresh_profiles: bool = True) -> dict[str, int]:
    """Store coupon redemptions, idempotent by event_id; all or nothing.

    Each event: event_id, campaign (code), customer, coupon_code, redeemed_at.
    """
    with uow:
        campaign_ids = uow.campaigns.ids_for(event["campaign"] for event in events)
        errors = merge_item_errors(unknown_reference_errors(
            events, "campaign", campaign_ids, lambda code: f"unknown campaign {code!r}"))
        if errors:
            raise InvalidInput("some redemptions are invalid; nothing was written", {"events": errors})
        customer_ids = uow.customers.ensure(event["customer"] for event in events)
        rows = [{"event_id": e["event_id"], "campaign_id": campaign_ids[e["campaign"]],
                 "customer_id": customer_ids[e["customer"]], "coupon_code": e.get("coupon_code"),
                 "redeemed_at": e["redeemed_at"]} for e in events]
        new = uow.campaigns.add_redemptions(rows)
        if new:     # history is not held to the limits: the counters follow what was stored
            uow.checkout.recount({row["campaign_id"] for row in rows if row["event_id"] in new})
        if refresh_profiles and new:
            uow.profiles.refresh({row["customer_id"] for row in rows if row["event_id"] in new})
        uow.commit()
    return {"accepted": len(new), "duplicates": len(events) - len(new)}
