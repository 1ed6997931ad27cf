"""Each live campaign's redemptions as serving checks its limits, kept current at a cost
that does not grow with the redemptions.

A worker refreshes its tallies whenever any redemption or cancellation lands (every
``serving_refresh_ms``). Counting the redemption rows each time grew with them: under a
steady stream of redemptions a worker's refreshes slowed its answers minute by minute
(bench/soak.py). Now:

- a campaign's count and discount come from its counters (one row a campaign), the same
  counters its cap and budget are held by in the redemption's transaction;
- per customer, only campaigns with a per-customer limit are tallied (no other rule reads
  it): read whole once, then by the redemptions added since (by primary key). A
  cancellation, or a row that committed after a newer one was read (PostgreSQL hands out
  ids before commit), leaves the per-customer sum short of the counter or above it; that
  campaign is then read whole again, so the tallies always come back to the counters. A
  cancellation and a late row together can leave the sum right and two customers wrong:
  each campaign is also read whole once a minute while redemptions come in, which bounds
  how long that lasts (the redemption's own transaction holds the limit exactly
  meanwhile).

What changed is reported for the caches of answers derived from the tallies: a cap or
budget that became reached (or no longer is) concerns every shopper, a per-customer count
only that customer.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, NamedTuple, Sequence

from promo.adapters import serving_data
from promo.domain.offers import Limits, Tally, limit_refusal


REREAD_SECONDS = 60.0


class _Tracked(NamedTuple):
    """A campaign tallied per customer."""

    limit: int              # its per-customer limit when read
    seen_id: int            # the newest redemption id its counts include
    total: int              # the sum of its counts
    read_at: float          # when it was last read whole (monotonic)


@dataclasses.dataclass(frozen=True)
class TallyChanges:
    tallies: dict[int, Tally]
    limits_moved: bool          # a campaign's cap or budget refusal changed: every answer may differ
    customers: frozenset[int]   # whose per-customer count of some campaign changed


class RedemptionTallies:
    """Not thread-safe: one refresher calls ``refresh``; readers use the returned tallies,
    which are never changed afterwards (a refresh that fails half-way leaves them, and
    this keeper, as they were)."""

    def __init__(self) -> None:
        self._tallies: dict[int, Tally] = {}
        self._tracked: dict[int, _Tracked] = {}

    def refresh(self, session: Any, campaigns: Sequence[Any]) -> TallyChanges:
        """``campaigns``: the live ones, each with ``id`` and ``limits`` (promo.domain.offers.Limits)."""
        limits = {c.id: c.limits for c in campaigns}
        counters = serving_data.campaign_counters(session, list(limits))
        tracked = {cid: found for cid, found in self._tracked.items()
                   if cid in limits and limits[cid].per_customer is not None}
        by_customer = {cid: self._tallies[cid].by_customer for cid in tracked}
        customers: set[int] = set()
        _add_new_rows(session, tracked, by_customer, customers)
        for cid, lim in limits.items():
            found = tracked.get(cid)
            if lim.per_customer is not None and (
                    found is None or found.limit != lim.per_customer or found.total != counters.get(cid, (0, 0.0))[0]
                    or time.monotonic() - found.read_at > REREAD_SECONDS):
                tracked[cid], by_customer[cid] = _read_whole(session, cid, lim, by_customer.get(cid, {}), customers)
        tallies = {}
        for cid in limits:
            count, spent = counters.get(cid, (0, 0.0))
            before = self._tallies.get(cid)
            counts = by_customer.get(cid, {})
            unchanged = before is not None and (before.redemptions, before.discount_spent) == (count, spent) \
                and before.by_customer is counts
            tallies[cid] = before if unchanged else Tally(count, spent, counts)
        moved = set(tallies) != set(self._tallies) or any(
            _campaign_refusal(limits[cid], tally) != _campaign_refusal(limits[cid], self._tallies.get(cid))
            for cid, tally in tallies.items())
        self._tallies, self._tracked = tallies, tracked
        return TallyChanges(tallies, moved, frozenset(customers))


def _add_new_rows(session: Any, tracked: dict[int, _Tracked], by_customer: dict[int, dict[int, int]],
                  customers: set[int]) -> None:
    """Count the redemptions added since each tracked campaign's newest, into copies of
    the counts they change."""
    if not tracked:
        return
    oldest = min(found.seen_id for found in tracked.values())
    rows = serving_data.redemptions_after(session, oldest, sorted(tracked))
    if not rows:
        return
    newest = max(id_ for id_, _, _ in rows)
    added: dict[int, int] = {}
    for id_, cid, customer in rows:
        if id_ > tracked[cid].seen_id:
            if cid not in added:
                by_customer[cid] = dict(by_customer[cid])
            counts = by_customer[cid]
            counts[customer] = counts.get(customer, 0) + 1
            added[cid] = added.get(cid, 0) + 1
            customers.add(customer)
    for cid, found in tracked.items():
        tracked[cid] = found._replace(seen_id=max(found.seen_id, newest), total=found.total + added.get(cid, 0))


def _read_whole(session: Any, campaign_id: int, limits: Limits, before: dict[int, int],
                customers: set[int]) -> tuple[_Tracked, dict[int, int]]:
    # The newest id first: a redemption added between the two reads is counted again by
    # the next incremental read, which then disagrees with the counter and reads again.
    newest = serving_data.newest_redemption_id(session)
    counts = serving_data.redemptions_by_customer(session, campaign_id)
    customers.update(c for c in counts.keys() | before.keys() if counts.get(c) != before.get(c))
    return _Tracked(limits.per_customer, newest, sum(counts.values()), time.monotonic()), counts  # type: ignore[arg-type]


def _campaign_refusal(limits: Limits, tally: Tally | None) -> str | None:
    """The refusal a campaign's cap or budget gives every shopper, or None."""
    return limit_refusal(limits, tally, None) if tally is not None else None
