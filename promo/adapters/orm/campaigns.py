"""Campaigns, their products, exposures, redemptions and audit log; the promoted-stock
watch's cursor."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from promo.adapters.orm.base import BigId, Base, Money, UTCDateTime, utcnow


class Campaign(Base):
    """A promotion campaign: built by marketing through the API, or imported with the demo
    data as ended campaigns. Its products are resolved to campaign_products when written;
    ``products`` keeps the rule they were resolved from (skus, categories, brands)."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The campaign's id in the API: the dataset's number for imported ones, cmp-... for new.
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(String(2000), server_default="")
    channels: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # None: every location serving the campaign's channels.
    location_ids: Mapped[list[int] | None] = mapped_column(JSON)
    products: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    discount: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    targeting: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    per_customer: Mapped[int | None] = mapped_column(Integer)
    budget: Mapped[float | None] = mapped_column(Money)
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    exclusive: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    holdout_percent: Mapped[float] = mapped_column(Numeric(5, 2, asdecimal=False), server_default="0")
    stock_policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    # Who paused it: "manual" (a person) or "stock" (the stock watch, which may resume it).
    paused_by: Mapped[str | None] = mapped_column(String(12))
    # Went live by an override of the stock check: the stock watch leaves it running until
    # the stock meets its policy once (then the override lapses).
    stock_override: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The stock sequence number the latest stock decision on it (a check at activation, a
    # pause or resume by the watch) was made at: a process whose view is behind it leaves
    # the campaign alone, so a lagging worker cannot undo what a current one decided.
    stock_judged_seq: Mapped[int | None] = mapped_column(BigInteger)
    # The latest check's expected redemptions and where they came from; the stock watch
    # measures live cover against them.
    expected_redemptions: Mapped[float | None] = mapped_column(Numeric(14, 4, asdecimal=False))
    # Bumped by every edit and transition: conditional updates on it make each change once.
    revision: Mapped[int] = mapped_column(Integer, server_default="1")
    # Redemptions not cancelled and the discount they took, in hundredths: moved only by
    # conditional updates inside the redeeming (or cancelling) transaction, so a cap or a
    # budget holds whatever the concurrency (promo.services.redemptions).
    redeemed_count: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    discount_spent_cents: Mapped[int] = mapped_column(BigInteger, server_default="0", default=0)
    # Has issued coupon codes: redeemed only with one of them.
    codes_required: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    created_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignEvent(Base):
    """The audit log of a campaign: every edit and transition, who made it (an API key's
    name, a user, or "system" for the clock and the stock watch), why, before and after,
    and for automatic ones the stock sequence number behind it."""

    __tablename__ = "campaign_events"
    __table_args__ = (Index("ix_campaign_events_campaign", "campaign_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(2000))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    stock_seq: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CampaignProduct(Base):
    __tablename__ = "campaign_products"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)


class CampaignExposure(Base):
    """A customer the campaign targeted (cohort "targeted") or held out on purpose to
    measure what the campaign changed (cohort "holdout")."""

    __tablename__ = "campaign_exposures"
    __table_args__ = (Index("ix_campaign_exposures_customer", "customer_id"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    cohort: Mapped[str] = mapped_column(String(10))


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        Index("ix_redemptions_customer_redeemed", "customer_id", "redeemed_at"),
        Index("ix_redemptions_campaign", "campaign_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The producer's id, so a repeated redemption is stored once.
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    coupon_code: Mapped[str | None] = mapped_column(String(64))
    redeemed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # What the redemption took off the customer's bill, which a campaign's budget counts
    # (none for the imported history, whose amounts are in the interactions).
    discount_total: Mapped[float | None] = mapped_column(Money)
    # Checkout's redemptions (none of these for the imported history): what the customer
    # paid for the lines, where and how, what was cited, the answer given (returned again
    # for a repeat of the same idempotency key), a fingerprint of the request (a repeat
    # with another body is refused), and when it was cancelled.
    revenue: Mapped[float | None] = mapped_column(Money)
    channel: Mapped[str | None] = mapped_column(String(10))
    location_id: Mapped[int | None] = mapped_column(Integer)
    code_id: Mapped[int | None] = mapped_column(BigInteger)
    offer_id: Mapped[str | None] = mapped_column(String(120))
    recommendation_id: Mapped[str | None] = mapped_column(String(40))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class CustomerRedemptionCount(Base):
    """How many redemptions of a campaign a customer has (not cancelled): the per-customer
    limit is held by a conditional upsert of this row."""

    __tablename__ = "customer_redemption_counts"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    redeemed: Mapped[int] = mapped_column(Integer)


class CouponCode(Base):
    """A code that unlocks a campaign at checkout: one shared code (``SUMMER20``), or one
    of many unique codes, optionally assigned to a customer. Stored upper-case (codes are
    case-insensitive) and found by its unique index; ``uses`` moves only by a conditional
    update against ``max_uses``."""

    __tablename__ = "coupon_codes"
    __table_args__ = (
        Index("ix_coupon_codes_campaign", "campaign_id", "id"),
        Index("ix_coupon_codes_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))         # shared | unique
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, server_default="0", default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromotedStockCursor(Base):
    """How far the stock log has been watched for low / out / back events on promoted
    products: one row, moved on by a conditional update, so each event is sent once."""

    __tablename__ = "promoted_stock_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stock_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
