"""Low, out and back-in-stock events on promoted products, sent once as webhooks.

The campaign watch calls :func:`watch_promoted_stock` on every tick. It reads the stock
log from a durable cursor to the sequence number this process's view has reached, and
for each (product, location) a running campaign promotes that those events touched, it
walks the level from before them (now, minus what they changed) through each event to
now, and each event that crosses a line is one of these (a stock-out and the restock
after it in one stretch are two events):

- ``stock.out``: it was above zero and is zero;
- ``stock.low``: it was above the low-stock threshold and is now within it, above zero;
- ``stock.back``: it was zero and is above zero.

Each event is also written to the history of every campaign promoting the product there
(action ``stock.out`` and so on), for its timeline and report.

The cursor moves by a conditional update in the same transaction as the webhooks, so of
all the processes watching, one sends each event, and a crash before the commit leaves
the events for the next tick of any process.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Sequence

from promo.adapters.orm import Campaign
from promo.services import webhooks
from promo.services.campaign_check import campaign_locations

if TYPE_CHECKING:
    from promo.bootstrap import Runtime


@dataclasses.dataclass(frozen=True)
class StockChange:
    kind: str                  # stock.low | stock.out | stock.back
    product_id: int
    location_id: int
    before: int
    after: int
    seq: int                   # the stock event that made it


def classify(before: int, after: int, low: int) -> str | None:
    """The event a move of available units from ``before`` to ``after`` makes, if any."""
    before, after = max(before, 0), max(after, 0)
    if before > 0 and after == 0:
        return "stock.out"
    if before == 0 and after > 0:
        return "stock.back"
    if before > low >= after > 0:
        return "stock.low"
    return None


def walk(product_id: int, location_id: int, after: int, moves: Sequence[tuple[int, int]], low: int
         ) -> list[StockChange]:
    """The events along the moves that led to ``after``, one by one: a stock-out and the
    restock after it within one stretch of the log are both events, not a net nothing."""
    level = after - sum(delta for _, delta in moves)
    found = []
    for seq, delta in moves:
        kind = classify(level, level + delta, low)
        if kind is not None:
            found.append(StockChange(kind, product_id, location_id, max(level, 0), max(level + delta, 0), seq))
        level += delta
    return found


def promoted_pairs(runtime: "Runtime", campaigns: list[tuple[Campaign, list[int]]]) -> dict[tuple[int, int], list[str]]:
    """{(product, location): codes of the running campaigns promoting it there}."""
    found: dict[tuple[int, int], list[str]] = {}
    for campaign, product_ids in campaigns:
        for location_id in campaign_locations(runtime, campaign):
            for product_id in product_ids:
                found.setdefault((product_id, location_id), []).append(campaign.code)
    return found


def promotions_by_product(runtime: "Runtime", campaigns: list[tuple[Campaign, list[int]]]
                          ) -> dict[int, list[tuple[str, frozenset[int]]]]:
    """{product: [(campaign code, the locations where it promotes it)]}: small (one entry per
    campaign product), where promoted_pairs has one per product and location."""
    found: dict[int, list[tuple[str, frozenset[int]]]] = {}
    for campaign, product_ids in campaigns:
        locations = frozenset(campaign_locations(runtime, campaign))
        for product_id in product_ids:
            found.setdefault(product_id, []).append((campaign.code, locations))
    return found


# A tick whose view keeps moving while it reads gives up after this many tries (the next
# tick takes the stretch).
CONSISTENT_READ_TRIES = 5


def watch_promoted_stock(runtime: "Runtime") -> list[StockChange]:
    """Send the low / out / back events since the cursor; returns those this call sent.

    Only the promoted (product, location) pairs the stretch of the log moved are read:
    the work follows the events, not the number of pairs the campaigns promote (50
    campaigns at every store of a chain are hundreds of thousands)."""
    view = runtime.stock.view
    with runtime.unit_of_work() as uow:
        cursor = uow.campaigns.stock_cursor()
    if cursor is not None and cursor >= view.as_of_seq:
        return []
    running = running_campaigns(runtime)
    if cursor is None:
        # The first watch starts at the present: history is not news.
        with runtime.unit_of_work(write=True) as uow:
            uow.campaigns.start_stock_cursor(view.as_of_seq)
            uow.commit()
        return []
    by_product = promotions_by_product(runtime, running)
    promoted: dict[tuple[int, int], list[str]] = {}
    changes: list[StockChange] = []
    seq = view.as_of_seq
    if by_product:
        for _ in range(CONSISTENT_READ_TRIES):
            bound = view.as_of_seq
            with runtime.unit_of_work() as uow:
                moves = uow.campaigns.stock_moves(cursor, bound, by_product)
            promoted = {pair: codes for pair in moves
                        if (codes := [code for code, where in by_product[pair[0]] if pair[1] in where])}
            pairs = sorted(promoted)
            seq, levels = view.available_of_pairs(pairs) if pairs else (bound, None)
            if seq == bound:          # the levels are those the moves led to
                break
        else:
            return []
        low = runtime.settings.low_stock_threshold
        for (product_id, location_id), after in zip(pairs, levels.tolist() if levels is not None else []):
            changes += walk(product_id, location_id, after, moves[(product_id, location_id)], low)
    with runtime.unit_of_work(write=True) as uow:
        if not uow.campaigns.move_stock_cursor(cursor, seq):
            return []      # another process took this stretch of the log
        skus = runtime.stock.catalog.skus(c.product_id for c in changes)
        sites = runtime.stock.catalog.sites()
        ids = {campaign.code: campaign.id for campaign, _ in running}
        for change in changes:
            payload = _payload(change, skus, sites, promoted)
            webhooks.enqueue(uow, change.kind, payload)
            # On each campaign's own timeline too (its history and report).
            details = {name: payload[name] for name in ("sku", "location", "available", "previous_available")}
            for code in payload["campaigns"]:
                uow.campaigns.add_event(ids[code], actor="system", action=change.kind, stock_seq=change.seq,
                                        details=details)
        uow.commit()
    return changes


def _payload(change: StockChange, skus: dict[int, str], sites: dict[int, Any],
             promoted: dict[tuple[int, int], list[str]]) -> dict[str, Any]:
    site = sites.get(change.location_id)
    return {"sku": skus.get(change.product_id), "location": site.code if site else None,
            "available": change.after, "previous_available": change.before, "stock_seq": change.seq,
            "campaigns": promoted[(change.product_id, change.location_id)]}


def running_campaigns(runtime: "Runtime") -> list[tuple[Campaign, list[int]]]:
    """The campaigns live stock concerns, detached, with their product ids."""
    with runtime.unit_of_work() as uow:
        running = [(c, uow.campaigns.product_ids(c.id)) for c in uow.campaigns.running()]
        for campaign, _ in running:
            uow.session.expunge(campaign)
    return running
