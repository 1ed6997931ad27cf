"""A campaign's audience as marketing reads it: ranked pages, or the whole list as CSV."""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Iterator

from promo.services.campaign_audience import Audience, resolve
from promo.services.campaigns import campaign_or_404
from promo.services.pages import Page

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

CSV_COLUMNS = ("rank", "customer", "probability", "uplift", "held_out", "reasons")


def _audience(runtime: "Runtime", code: str) -> Audience:
    with runtime.unit_of_work() as uow:
        campaign = campaign_or_404(uow, code)
        return resolve(runtime, uow, campaign, uow.campaigns.product_ids(campaign.id))


def _member(audience: Audience, index: int) -> dict[str, Any]:
    def rounded(values: Any) -> float | None:
        return None if values is None else round(float(values[index]), 6)

    return {"id": audience.external_ids[index], "rank": index + 1, "probability": rounded(audience.probability),
            "uplift": rounded(audience.uplift), "held_out": bool(audience.held_out[index]),
            "reasons": audience.reasons[index]}


def audience_page(runtime: "Runtime", code: str, *, after: str | None, limit: int
                  ) -> tuple[dict[str, Any], Page[dict[str, Any]]]:
    """(summary, one page of members by rank). The ranking is computed afresh for each
    page: a page reflects the history at the time it is read."""
    audience = _audience(runtime, code)
    start = int(after or 0)
    stop = min(start + limit, audience.size)
    summary = {"campaign": code, "eligible": audience.size, "held_out": audience.size - audience.treated,
               "treated": audience.treated, "opted_out": audience.opted_out, "ranked_by": audience.ranked_by,
               "model": audience.model}
    items = [_member(audience, i) for i in range(start, stop)]
    return summary, Page(items=items, next_after=str(stop) if stop < audience.size else None)


def csv_rows(runtime: "Runtime", code: str) -> Iterator[str]:
    """The whole audience as CSV lines, header first (computed before the first line, so
    an unknown campaign is still a 404)."""
    audience = _audience(runtime, code)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for index in range(audience.size):
            member = _member(audience, index)
            writer.writerow([member["rank"], member["id"], member["probability"], member["uplift"],
                             int(member["held_out"]), " ".join(member["reasons"])])
            if index % 1000 == 999:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return lines()
