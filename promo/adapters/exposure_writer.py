"""Served exposures written at driver speed: thousands of rows a second arrive from the
serving path, and the ORM's bulk insert cost more CPU than serving them."""
from __future__ import annotations

from typing import Any, Sequence

import orjson
from sqlalchemy.orm import Session

from promo.adapters.bulk import postgres_copy, sqlite_insert_values

COLUMNS = ("recommendation_id", "served_at", "kind", "campaign_id", "customer", "cohort", "channel",
           "location_id", "skus")
TIMES = frozenset({"served_at"})


def write_exposures(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    values = [(row["recommendation_id"], row["served_at"], row["kind"], row["campaign_id"], row["customer"],
               row["cohort"], row["channel"], row["location_id"], orjson.dumps(row["skus"]).decode())
              for row in rows]
    if session.get_bind().dialect.name == "postgresql":
        postgres_copy(session, "served_exposures", COLUMNS, values, TIMES)
    else:
        sqlite_insert_values(session, "served_exposures", COLUMNS, values, TIMES)
