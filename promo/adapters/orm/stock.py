"""The stock log, its sequence, positions, reservations and inbound receipts."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from promo.adapters.orm.base import BigId, Base, UTCDateTime


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
