"""What marketing watches: the promoted products (of the campaigns live stock concerns)
that are low or out of stock, by location, from this process's live stock view."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from promo.services.promoted_stock import promoted_pairs, running_campaigns

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

OUT, LOW = "out", "low"


def promoted_low_stock(runtime: "Runtime", limit: int = 500) -> dict[str, Any]:
    """Promoted (product, location) pairs at or under the low-stock threshold, out of stock
    first, each with the campaigns promoting it there; and the stock sequence read."""
    running = running_campaigns(runtime)
    promoted = promoted_pairs(runtime, running)
    names = {campaign.code: campaign.name for campaign, _ in running}
    pairs = sorted(promoted)
    seq, levels = runtime.stock.view.available_of_pairs(pairs) if pairs else (runtime.stock.view.as_of_seq, [])
    low = runtime.settings.low_stock_threshold
    found = [(max(int(level), 0), pair) for pair, level in zip(pairs, list(levels)) if level <= low]
    found.sort(key=lambda item: (item[0], item[1]))
    skus = runtime.stock.catalog.skus({product for _, (product, _) in found[:limit]})
    sites = runtime.stock.catalog.sites()
    rows = []
    for available, (product_id, location_id) in found[:limit]:
        site = sites.get(location_id)
        rows.append({"sku": skus.get(product_id), "location": site.code if site else None,
                     "available": available, "state": OUT if available == 0 else LOW,
                     "campaigns": [{"id": code, "name": names.get(code, code)}
                                   for code in promoted[(product_id, location_id)]]})
    return {"as_of_seq": seq, "threshold": low, "pairs_watched": len(pairs), "rows": rows,
            "more": max(0, len(found) - limit)}
