"""The demo's clock: the dataset is stored moved into the present by a whole number of
weeks, recorded in the database, and the dataset's own dates are translated here.

The Complete Journey ends on 2018-01-01; stored as it is, every demo customer would be
years past their last purchase and every new campaign would start years after the data.
So the first demo load moves every timestamp by the same whole number of weeks (its last
day lands on yesterday or within the six days before, weekdays unchanged) and records
the shift; later loads reuse it. Commands that take the dataset's own dates (`promo
demo load --as-of`, `promo evaluate` cut-offs, `promo train --until`) add it, so an
evaluation on the demo gives the same figures as on the unmoved data.
"""
from __future__ import annotations

import datetime as dt

from promo.domain.timeline import shift_to_yesterday
from promo.services.unit_of_work import UnitOfWork

DATASET = "completejourney"
NO_SHIFT = dt.timedelta(0)


def shift_of(uow: UnitOfWork, dataset: str = DATASET) -> dt.timedelta:
    """How far the stored dataset was moved (zero when no demo was loaded)."""
    with uow:
        found = uow.timelines.get(dataset)
        return dt.timedelta(days=found.shift_days) if found else NO_SHIFT


def to_stored(uow: UnitOfWork, moment: dt.datetime, dataset: str = DATASET) -> dt.datetime:
    """A moment of the dataset's own timeline as it is stored."""
    return moment + shift_of(uow, dataset)


def fix_shift(uow: UnitOfWork, last_day: dt.date, today: dt.date, *, move: bool = True,
              dataset: str = DATASET, event_prefix: str = "cj:") -> dt.timedelta:
    """The shift for a load whose data ends on ``last_day``: the one recorded by an
    earlier load, else (recorded now) the whole weeks to yesterday, or none when
    ``move`` is false or the database holds the dataset's events already, stored
    before shifts were recorded (moving only the new ones would tear the timeline)."""
    shift = shift_to_yesterday(last_day, today) if move else NO_SHIFT
    with uow:
        if uow.timelines.get(dataset) is None and uow.interactions.any_with_prefix(event_prefix):
            shift = NO_SHIFT
        uow.timelines.record(dataset, shift.days, last_day)
        found = uow.timelines.get(dataset)
        assert found is not None
        days = found.shift_days
        uow.commit()
    return dt.timedelta(days=days)
