"""What campaigns tell the outside world: webhook events written to the outbox inside the
transaction that made the change (so a rolled-back change notifies nobody, and a
committed one is never lost), sent after commit by the webhook sender."""
from __future__ import annotations

from typing import Any

from promo.adapters.orm import Campaign
from promo.services import webhooks
from promo.services.unit_of_work import UnitOfWork


def campaign_event(uow: UnitOfWork, kind: str, campaign: Campaign, **facts: Any) -> None:
    payload = {"campaign": {"id": campaign.code, "name": campaign.name}, **facts}
    webhooks.enqueue(uow, kind, payload)
