"""Available-to-promise: what can be promised for a quantity, where, and by when."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class Site:
    """A location as availability sees it."""

    location_id: int
    code: str
    channels: frozenset[str]
    lead_time_days: int


@dataclasses.dataclass(frozen=True)
class SiteStock:
    site: Site
    available: int
    inbound: tuple[tuple[dt.datetime, int], ...]   # (eta, quantity), earliest first


@dataclasses.dataclass(frozen=True)
class Promise:
    available_now: bool
    quantity_now: int
    promise_date: dt.date | None
    source_location: str | None


def promise(quantity: int, channel: str, stock: Sequence[SiteStock], today: dt.date,
            at_location: int | None = None) -> Promise:
    """The best promise for ``quantity`` through ``channel``.

    In a store (``at_location``) what counts now is that store's shelf; when short, the
    earliest of: any other location that has it all, store or warehouse (today plus its
    lead time, the time to bring it over), or that store's next inbound receipts. For web and mobile, the sum over
    every location serving the channel counts now; when short, the inbound receipt that
    covers the shortfall, earliest first.
    """
    serving = [s for s in stock if channel in s.site.channels]
    if at_location is not None:
        here = [s for s in serving if s.site.location_id == at_location]
        quantity_now = sum(s.available for s in here)
        if quantity_now >= quantity:
            return Promise(True, quantity_now, today, here[0].site.code if here else None)
        options = [(today + dt.timedelta(days=s.site.lead_time_days), s.site.code)
                   for s in stock if s.site.location_id != at_location and s.available >= quantity]
        options += _inbound_options(here, quantity - quantity_now)
        return _best(quantity_now, options)
    quantity_now = sum(s.available for s in serving)
    if quantity_now >= quantity:
        source = max(serving, key=lambda s: s.available).site.code if serving else None
        return Promise(True, quantity_now, today, source)
    return _best(quantity_now, _inbound_options(serving, quantity - quantity_now))


def _inbound_options(sites: Sequence[SiteStock], shortfall: int) -> list[tuple[dt.date, str]]:
    arrivals = sorted(((eta, qty, s.site) for s in sites for eta, qty in s.inbound), key=lambda a: a[0])
    covered = 0
    for eta, qty, site in arrivals:
        covered += qty
        if covered >= shortfall:
            return [(eta.date() + dt.timedelta(days=site.lead_time_days), site.code)]
    return []


def _best(quantity_now: int, options: list[tuple[dt.date, str]]) -> Promise:
    if not options:
        return Promise(False, quantity_now, None, None)
    date, code = min(options)
    return Promise(False, quantity_now, date, code)
