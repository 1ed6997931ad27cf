"""SQLAlchemy 2 mappings of every table.

Dataset and client ids (sku, location code, customer id) are kept as given, in unique
string columns; rows refer to each other through compact integer surrogate keys so the
large tables (interactions, later stock positions) stay small and fast to scan.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names on every database, so migrations can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Money = Numeric(12, 2, asdecimal=False)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes in Python, stored as naive UTC on every database."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone first")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    # The public part of the key, to find its row; the secret part is only stored hashed.
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str | None] = mapped_column(String(200), index=True)
    brand: Mapped[str | None] = mapped_column(String(200))
    price: Mapped[float] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Indexed: each audience scorer asks for the products changed since it last looked.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    channels: Mapped[list[str]] = mapped_column(JSON)
    lead_time_days: Mapped[int] = mapped_column(Integer, default=0)
    region: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    home_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Indexed: each audience scorer asks for the customers changed since it last looked.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_interactions_product_occurred", "product_id", "occurred_at"),
        # A store's recent best sellers, for topping up a short recommendation list.
        Index("ix_interactions_location_occurred", "location_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The producer's id: a repeat of the same event is recognised and not stored twice.
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Money)
    discount: Mapped[float | None] = mapped_column(Money)
    coupon_discount: Mapped[float | None] = mapped_column(Money)
    channel: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The recommendation_id of the answer that led to this interaction, for attribution.
    recommendation_id: Mapped[str | None] = mapped_column(String(64))


class CustomerProfile(Base):
    """What the interaction history says about one customer, recomputed from the history
    (never incremented) whenever new interactions or redemptions of the customer arrive,
    so a repeated or late event can never skew it. Segments are derived at read time
    from these figures and a reference clock (see promo.domain.profiles)."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    first_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    first_purchase_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_purchase_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Visits are distinct purchase times (one basket each).
    visits: Mapped[int] = mapped_column(Integer, default=0)
    purchase_lines: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)
    spend: Mapped[float] = mapped_column(Money, default=0)
    discount: Mapped[float] = mapped_column(Money, default=0)
    coupon_discount: Mapped[float] = mapped_column(Money, default=0)
    coupon_lines: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int] = mapped_column(Integer, default=0)
    carts: Mapped[int] = mapped_column(Integer, default=0)
    exposures: Mapped[int] = mapped_column(Integer, default=0)
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    last_redemption_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # {channel: visits}, [{location_id, visits}], [{name, spend, share}], most first.
    channels: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    top_locations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    top_categories: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    top_brands: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- campaigns --------------------------------------------------------------------------

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
    # The latest check's expected redemptions and where they came from; the stock watch
    # measures live cover against them.
    expected_redemptions: Mapped[float | None] = mapped_column(Numeric(14, 4, asdecimal=False))
    # Bumped by every edit and transition: conditional updates on it make each change once.
    revision: Mapped[int] = mapped_column(Integer, server_default="1")
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


class PromotedStockCursor(Base):
    """How far the stock log has been watched for low / out / back events on promoted
    products: one row, moved on by a conditional update, so each event is sent once."""

    __tablename__ = "promoted_stock_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stock_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- models -----------------------------------------------------------------------------

class ActiveModel(Base):
    """Which trained version of each model serves; every process follows this row."""

    __tablename__ = "active_models"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- demo data ----------------------------------------------------------------------------

class DatasetTimeline(Base):
    """How far a loaded dataset's timeline was moved so that it ends yesterday.

    Every timestamp of the dataset is stored moved by ``shift_days`` (whole weeks, so
    weekdays stay); commands that take the dataset's own dates (`promo evaluate`
    cut-offs, `promo demo load --as-of`) add it. Written by the first load, kept after.
    """

    __tablename__ = "dataset_timelines"

    dataset: Mapped[str] = mapped_column(String(64), primary_key=True)
    shift_days: Mapped[int] = mapped_column(Integer)
    # The dataset's own last day as loaded, before the shift.
    last_day: Mapped[dt.date] = mapped_column(Date)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- stock ------------------------------------------------------------------------------

class StockSequence(Base):
    """One row holding the last stock sequence number handed out.

    A stock write increments it in its own transaction and holds the row lock until it
    commits, so sequence numbers are gapless and in commit order: a reader that has seen
    seq N can never later find a committed event below N that it missed.
    """

    __tablename__ = "stock_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    # The positions table holds every event up to here. PostgreSQL writes positions in
    # each stock transaction, so it is always last_seq there; SQLite brings the table
    # forward in bulk once it trails by a set number of events (settings).
    positions_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")


APPLIED_SALES = "type = 'sale' AND refusal IS NULL"


class StockEvent(Base):
    """The append-only stock log; every event the service accepted, applied or refused."""

    __tablename__ = "stock_events"
    __table_args__ = (
        # Only applied sales are looked up by location and time (sales velocity).
        Index("ix_stock_events_sales", "location_id", "occurred_at",
              sqlite_where=text(APPLIED_SALES), postgresql_where=text(APPLIED_SALES)),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    type: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    reservation_id: Mapped[str | None] = mapped_column(String(128))
    inbound_id: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    eta: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # None when applied; otherwise the refusal code (a repeat of the event gets it again).
    refusal: Mapped[str | None] = mapped_column(String(40))
    anomaly: Mapped[bool] = mapped_column(Boolean, default=False)
    delta_on_hand: Mapped[int] = mapped_column(Integer, default=0)
    delta_reserved: Mapped[int] = mapped_column(Integer, default=0)
    delta_safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    delta_inbound: Mapped[int] = mapped_column(Integer, default=0)


class StockPosition(Base):
    """The snapshot: the sum of the log's deltas per product and location."""

    __tablename__ = "stock_positions"
    # On SQLite, one b-tree clustered by (product, location) instead of a rowid table plus
    # a key index: a batch of updates dirties half the pages.
    __table_args__ = {"sqlite_with_rowid": False}

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    inbound: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class StockReservation(Base):
    __tablename__ = "stock_reservations"
    __table_args__ = (
        Index("ix_stock_reservations_open_position", "product_id", "location_id", "state"),
    )

    reservation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(10))
    opened_seq: Mapped[int] = mapped_column(BigInteger)
    closed_seq: Mapped[int | None] = mapped_column(BigInteger)


class StockInbound(Base):
    """Expected receipts, for availability-to-promise (the position keeps their pending
    total). Known by the event_id of the `inbound` notice; a receipt naming it before the
    notice arrives creates the row with quantity 0 and no ETA yet."""

    __tablename__ = "stock_inbound"
    __table_args__ = (
        Index("ix_stock_inbound_position_eta", "product_id", "location_id", "eta"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    inbound_id: Mapped[str] = mapped_column(String(128), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    quantity: Mapped[int] = mapped_column(Integer)          # announced
    received: Mapped[int] = mapped_column(Integer, default=0)
    eta: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


# --- webhooks ---------------------------------------------------------------------------

class Webhook(Base):
    """An endpoint that receives signed events. Its signing secret is never stored: it is
    derived from the service's secret_key, the public id and ``secret_salt``."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(500))
    secret_salt: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The outbox: one row per (event, endpoint), written in the transaction that caused
    the event and sent after it commits. A sender claims a row by setting
    ``claimed_until`` (a lease) and ``claim_token``; a crashed sender's lease runs out and
    another sender retries the row (at least once)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
        UniqueConstraint("event_id", "webhook_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When it (re-)entered the queue: the maximum age counts from here, so that an
    # admin's retry of a given-up delivery gets a whole new budget.
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
