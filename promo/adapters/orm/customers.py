"""Keys, the catalog (products, locations), customers, their interactions and profiles."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from promo.adapters.orm.base import BigId, Base, Money, UTCDateTime, utcnow


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
    # Indexed: each serving process asks for the profiles rewritten since it last looked.
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
    # Indexed: each serving process asks for the profiles rewritten since it last looked.
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
    # Indexed: each serving process asks for the profiles rewritten since it last looked.
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
