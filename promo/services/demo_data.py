"""Loading The Complete Journey as demo data, through the same use cases the API calls."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Callable

from tqdm import tqdm

from promo.adapters import completejourney
from promo.bootstrap import Runtime
from promo.services import catalog, customers, interactions

# The largest batch each use case takes in one transaction; the API's default limit too.
BATCH = 10_000


@dataclasses.dataclass
class DemoReport:
    skipped: bool = False
    locations: int = 0
    products: int = 0
    customers: int = 0
    interactions_accepted: int = 0
    interactions_duplicate: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        if self.skipped:
            return "demo data: the database holds products already; nothing loaded (drop --if-empty to top it up)"
        return (f"demo data loaded in {self.seconds:.1f}s: {self.locations} locations, {self.products} products, "
                f"{self.customers} customers, {self.interactions_accepted} new purchases "
                f"({self.interactions_duplicate} already there)")


def _batches(items: list, size: int = BATCH):  # type: ignore[no-untyped-def]
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load_demo(runtime: Runtime, *, as_of: dt.datetime | None = None, if_empty: bool = False,
              progress: bool = True, read: Callable[[], completejourney.CompleteJourney] | None = None) -> DemoReport:
    """Load locations, products, customers and purchases before ``as_of``; idempotent.

    ``read`` supplies the dataset (tests pass a small slice); by default the whole
    package is read.
    """
    started = time.perf_counter()
    if if_empty:
        with runtime.unit_of_work() as uow:
            if uow.products.page(after=None, limit=1):
                return DemoReport(skipped=True)
    data = (read or completejourney.CompleteJourney.read)()
    report = DemoReport()
    say = tqdm.write if progress else (lambda _message: None)

    say("demo: reference data (locations, products, customers)")
    location_records = completejourney.locations(data)
    catalog.upsert_locations(runtime.unit_of_work(write=True), location_records)
    report.locations = len(location_records)
    for batch in _batches(completejourney.products(data)):
        report.products += catalog.upsert_products(runtime.unit_of_work(write=True), batch)["upserted"]
    for batch in _batches(completejourney.customers(data)):
        report.customers += customers.upsert_customers(runtime.unit_of_work(write=True), batch)["upserted"]

    purchases = data.transactions_before(as_of)
    with tqdm(total=len(purchases), desc="demo: purchases", unit="rows", disable=not progress,
              mininterval=0.5) as bar:
        for events in completejourney.purchase_events(purchases, BATCH):
            result = interactions.record_interactions(runtime.unit_of_work(write=True), events)
            report.interactions_accepted += result["accepted"]
            report.interactions_duplicate += result["duplicates"]
            bar.update(len(events))
    report.seconds = time.perf_counter() - started
    return report
