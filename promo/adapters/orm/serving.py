"""What the channels were shown and what shoppers did with it: served lists (offers,
deals, recommendations) and the clicks and dismissals that cite them."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from promo.adapters.orm.base import BigId, Base, UTCDateTime, utcnow


class ServedExposure(Base):
    """One campaign's part of one served list (or a whole recommendation list, with no
    campaign): who saw which skus, in which cohort, under which recommendation_id.

    Cohorts: ``treated`` (the customer saw the campaign's offers), ``holdout`` (held out
    of the campaign: shown nothing of it, recorded as a control exposure), ``untargeted``
    (an unknown or opted-out customer shown an `everyone` campaign's popular offers), and
    ``recommendation`` for recommendation lists. Written in batches off the request path.
    """

    __tablename__ = "served_exposures"
    # One index: thousands of rows a second are written. Reports and attribution read by
    # campaign (and customer); clicks join by recommendation_id from the events' side.
    __table_args__ = (Index("ix_served_exposures_campaign_customer", "campaign_id", "customer"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(String(40))
    served_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))            # offers | deals | recommendations
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    # The customer's id as the channel gave it (known to us or not).
    customer: Mapped[str | None] = mapped_column(String(64))
    cohort: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(10))
    location_id: Mapped[int | None] = mapped_column(Integer)
    # The offers' skus; their offer ids are off-<recommendation hex>-<campaign_id>-<product id>.
    skus: Mapped[list[str]] = mapped_column(JSON, default=list)


class OfferEvent(Base):
    """A click on or dismissal of an offer or recommendation, by the ids it was served
    with. ``event_id`` (the client's, or derived from the body) stores a repeat once."""

    __tablename__ = "offer_events"
    __table_args__ = (Index("ix_offer_events_recommendation", "recommendation_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    recommendation_id: Mapped[str] = mapped_column(String(40))
    offer_id: Mapped[str | None] = mapped_column(String(120))
    sku: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(10))            # click | dismiss
    customer: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
