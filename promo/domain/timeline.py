"""Moving a historical dataset's timeline into the present, whole weeks at a time."""
from __future__ import annotations

import datetime as dt

WEEK = dt.timedelta(weeks=1)


def shift_to_yesterday(last_day: dt.date, today: dt.date) -> dt.timedelta:
    """The whole number of weeks that moves ``last_day`` to yesterday or the six days
    before it: never into the future, and weekdays stay what they were (shopping has
    a weekly rhythm that models and segments may read)."""
    yesterday = today - dt.timedelta(days=1)
    return WEEK * ((yesterday - last_day).days // 7)
