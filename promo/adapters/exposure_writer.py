"""Served exposures written at driver speed: thousands of rows a second arrive from the
serving path, and the ORM's bulk insert cost more CPU than serving them."""
from __future__ import annotations

from typing import Any, Sequence

import orjson
from sqlalchemy.orm import Session

from promo.adapters.bulk import postgres_copy, sqlite_insert_values

COLUMNS = ("recommendation_id", "served_at", "kind", "campaign_id", "customer", "cohort", "channel",
           "location_id", "skus", "offer_ids")
JSON_COLUMNS = ("skus", "offer_ids")
TIMES = frozenset({"served_at"})


def write_exposures(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    values = [tuple(orjson.dumps(row[c]).decode() if c in JSON_COLUMNS else row[c] for c in COLUMNS)
              for row in rows]
    if session.get_bind().dialect.name == "postgresql":
        postgres_copy(session, "served_exposures", COLUMNS, values, TIMES)
    else:
        sqlite_insert_values(session, "served_exposures", COLUMNS, values, TIMES)
