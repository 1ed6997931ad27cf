"""Which model version serves, and how the demo dataset's timeline was moved."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from promo.adapters.orm.base import Base, UTCDateTime, utcnow


class ActiveModel(Base):
    """Which trained version of each model serves; every process follows this row."""

    __tablename__ = "active_models"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


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
