"""SQLAlchemy 2 mappings of every table, one module per area; importing this package maps
them all (Base.metadata is the whole schema).

Dataset and client ids (sku, location code, customer id) are kept as given, in unique
string columns; rows refer to each other through compact integer surrogate keys so the
large tables (interactions, later stock positions) stay small and fast to scan.
"""
from __future__ import annotations

from promo.adapters.orm.base import (
    Base,
    BigId,
    Money,
    NAMING_CONVENTION,
    UTCDateTime,
    utcnow,
)
from promo.adapters.orm.customers import (
    ApiKey,
    Customer,
    CustomerProfile,
    Interaction,
    Location,
    Product,
)
from promo.adapters.orm.campaigns import (
    Campaign,
    CampaignEvent,
    CampaignExposure,
    CampaignProduct,
    CouponCode,
    CustomerRedemptionCount,
    PromotedStockCursor,
    Redemption,
)
from promo.adapters.orm.models import (
    ActiveModel,
    DatasetTimeline,
)
from promo.adapters.orm.people import FailedAttempt, StaffUser
from promo.adapters.orm.serving import (
    OfferEvent,
    ServedExposure,
)
from promo.adapters.orm.stock import (
    APPLIED_SALES,
    StockEvent,
    StockInbound,
    StockPosition,
    StockReservation,
    StockSequence,
)
from promo.adapters.orm.webhooks import (
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "Base",
    "BigId",
    "Money",
    "NAMING_CONVENTION",
    "UTCDateTime",
    "utcnow",
    "ApiKey",
    "Customer",
    "CustomerProfile",
    "Interaction",
    "Location",
    "Product",
    "Campaign",
    "CampaignEvent",
    "CampaignExposure",
    "CampaignProduct",
    "CouponCode",
    "CustomerRedemptionCount",
    "PromotedStockCursor",
    "Redemption",
    "ActiveModel",
    "FailedAttempt",
    "DatasetTimeline",
    "OfferEvent",
    "ServedExposure",
    "StaffUser",
    "APPLIED_SALES",
    "StockEvent",
    "StockInbound",
    "StockPosition",
    "StockReservation",
    "StockSequence",
    "Webhook",
    "WebhookDelivery",
]
