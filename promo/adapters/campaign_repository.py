"""Campaigns, their products and exposures, and redemptions."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from sqlalchemy import delete
from sqlalchemy.orm import Session

from promo.adapters.orm import Campaign, CampaignExposure, CampaignProduct, Redemption, utcnow
from promo.adapters.repositories import ids_by, insert_new_rows, upsert_rows


class CampaignRepository:
    def __init__(self, session: Session):
        self.session = session

    def upsert(self, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Create or replace campaigns by code; return {code: id}."""
        now = utcnow()
        upsert_rows(self.session, Campaign.__table__, [{**row, "updated_at": now} for row in rows], "code")
        return self.ids_for(row["code"] for row in rows)

    def ids_for(self, codes: Iterable[str]) -> dict[str, int]:
        return ids_by(self.session, Campaign.code, Campaign.id, codes)

    def replace_products(self, campaign_id: int, product_ids: Iterable[int]) -> None:
        self.session.execute(delete(CampaignProduct).where(CampaignProduct.campaign_id == campaign_id))
        rows = [{"campaign_id": campaign_id, "product_id": product_id} for product_id in sorted(set(product_ids))]
        if rows:
            self.session.execute(CampaignProduct.__table__.insert(), rows)

    def replace_exposures(self, campaign_id: int, cohorts: dict[int, str]) -> set[int]:
        """The campaign's audience: {customer id: "targeted" or "holdout"}; returns the
        customers it had before."""
        before = set(self.session.scalars(
            delete(CampaignExposure).where(CampaignExposure.campaign_id == campaign_id)
            .returning(CampaignExposure.customer_id)))
        rows = [{"campaign_id": campaign_id, "customer_id": customer_id, "cohort": cohort}
                for customer_id, cohort in sorted(cohorts.items())]
        if rows:
            self.session.execute(CampaignExposure.__table__.insert(), rows)
        return before

    def add_redemptions(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Store the redemptions whose event_id is new; return those event ids."""
        return insert_new_rows(self.session, Redemption.__table__, rows, "event_id")
