"""Loading The Complete Journey as demo data, through the same use cases the API calls."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from typing import Any, Callable

from tqdm import tqdm

from promo.adapters import completejourney
from promo.bootstrap import Runtime
from promo.services import campaign_history, catalog, customers, demo_clock, interactions, profiles, stock

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
    campaigns: int = 0
    campaign_exposures: int = 0
    redemptions: int = 0
    profiles: int = 0
    stock_positions: int = 0
    stock_inbound: int = 0
    shift_days: int = 0
    last_day: dt.date | None = None
    seconds: float = 0.0

    def timeline(self) -> str:
        if self.last_day is None:
            return ""
        moved = self.last_day + dt.timedelta(days=self.shift_days)
        if not self.shift_days:
            return f"; dates as in the dataset (last day {self.last_day})"
        return (f"; dates moved forward {self.shift_days // 7} weeks, so the dataset's last day "
                f"{self.last_day} ({self.last_day:%A}) is stored as {moved}")

    def summary(self) -> str:
        if self.skipped:
            return "demo data: the database holds products already; nothing loaded (drop --if-empty to top it up)"
        return (f"demo data loaded in {self.seconds:.1f}s: {self.locations} locations, {self.products} products, "
                f"{self.customers} customers, {self.interactions_accepted} new purchases "
                f"({self.interactions_duplicate} already there), {self.campaigns} past campaigns with "
                f"{self.campaign_exposures} targeted households and {self.redemptions} new redemptions, "
                f"{self.profiles} customer profiles; synthetic stock for {self.stock_positions} "
                f"positions, {self.stock_inbound} inbound receipts{self.timeline()}")


def _batches(items: list, size: int = BATCH):  # type: ignore[no-untyped-def]
    for start in range(0, len(items), size):
        yield items[start:start + size]


def load_demo(runtime: Runtime, *, as_of: dt.datetime | None = None, if_empty: bool = False,
              progress: bool = True, read: Callable[[], completejourney.CompleteJourney] | None = None,
              move_dates: bool = True, today: dt.date | None = None) -> DemoReport:
    """Load locations, products, customers and purchases before ``as_of``; idempotent.

    ``as_of`` is a date of the dataset's own timeline. Everything is stored moved by
    whole weeks so that the loaded data ends yesterday (``today`` is the real date by
    default), unless an earlier load recorded a shift already, which is then kept, or
    ``move_dates`` is false (the dataset's own dates; recorded as a shift of zero).
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
    report.last_day = data.last_day(purchases)
    shift = demo_clock.fix_shift(runtime.unit_of_work(write=True), report.last_day,
                                 today or dt.datetime.now(dt.timezone.utc).date(), move=move_dates)
    report.shift_days = shift.days
    with tqdm(total=len(purchases), desc="demo: purchases", unit="rows", disable=not progress,
              mininterval=0.5) as bar:
        for events in completejourney.purchase_events(purchases, BATCH, shift):
            result = interactions.record_interactions(runtime.unit_of_work(write=True), events,
                                                      refresh_profiles=False)
            report.interactions_accepted += result["accepted"]
            report.interactions_duplicate += result["duplicates"]
            bar.update(len(events))

    say("demo: campaign history (campaigns, targeted households, coupon products, redemptions)")
    history = campaign_history.import_campaigns(runtime.unit_of_work(write=True),
                                                completejourney.campaign_records(data, as_of, shift),
                                                refresh_profiles=False)
    report.campaigns, report.campaign_exposures = history.campaigns, history.exposures
    report.redemptions = campaign_history.record_redemptions(
        runtime.unit_of_work(write=True), completejourney.redemption_events(data, as_of, shift),
        refresh_profiles=False)["accepted"]
    report.profiles = profiles.refresh_all(runtime, progress=progress)

    _load_synthetic_stock(runtime, purchases, report, progress)
    report.seconds = time.perf_counter() - started
    return report


def _load_synthetic_stock(runtime: Runtime, purchases, report: DemoReport, progress: bool) -> None:  # type: ignore[no-untyped-def]
    """Initial stock as `count` events (and `inbound` ones), through the stock use case, so
    the log holds them like any other stock; stable event ids keep a re-run a no-op."""
    now = dt.datetime.now(dt.timezone.utc)
    counts, inbound = completejourney.synthetic_stock(purchases, now.date())
    events = [{"event_id": f"demo-stock:{c['sku']}:{c['location']}", "type": "count", "occurred_at": now, **c}
              for c in counts]
    events += [{"event_id": f"demo-inbound:{i['sku']}:{i['location']}", "type": "inbound", "occurred_at": now, **i}
               for i in inbound]
    with tqdm(total=len(events), desc="demo: synthetic stock", unit="events", disable=not progress,
              mininterval=0.5) as bar:
        for batch in _batches(events):
            stock.ingest_events(runtime.unit_of_work(write=True), runtime.stock, batch, now)
            bar.update(len(batch))
    report.stock_positions, report.stock_inbound = len(counts), len(inbound)


@dataclasses.dataclass
class ReplayReport:
    events: int = 0
    refused: int = 0
    anomalies: int = 0
    last_seq: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"replayed {self.events} sales in {self.seconds:.1f}s (last_seq {self.last_seq}; "
                f"{self.anomalies} took on-hand below zero)")


def replay(runtime: Runtime, *, from_week: int, speed: float, limit: int | None = None, progress: bool = True,
           read: Callable[[], completejourney.CompleteJourney] | None = None,
           sleep: Callable[[float], None] = time.sleep) -> ReplayReport:
    """Send the dataset's purchases from ``from_week`` on as live `sale` stock events.

    ``speed`` is how many seconds of the dataset pass per second of replay (3600: an hour
    a second); 0 sends as fast as possible. Events are sent in batches of what falls in
    each tenth of a second, stamped with the current time.
    """
    data = (read or completejourney.CompleteJourney.read)()
    purchases = data.transactions[data.transactions["week"] >= from_week]
    total = len(purchases) if limit is None else min(limit, len(purchases))
    report = ReplayReport()
    started = time.perf_counter()
    first: Any = None
    batch: list[dict[str, Any]] = []

    def send() -> None:
        now = dt.datetime.now(dt.timezone.utc)
        result = stock.ingest_events(runtime.unit_of_work(write=True), runtime.stock,
                                     [{**event, "occurred_at": now} for event in batch], now)
        report.events += len(batch)
        report.refused += len(result["refused"])
        report.anomalies += result["anomalies"]
        report.last_seq = result["last_seq"]
        bar.update(len(batch))
        batch.clear()

    with tqdm(total=total, desc="replay: sales", unit="events", disable=not progress, mininterval=0.5) as bar:
        try:
            for when, event in completejourney.replay_sales(purchases):
                if report.events + len(batch) >= total:
                    break
                first = when if first is None else first
                due = (when - first).total_seconds() / speed if speed > 0 else 0.0
                ahead = due - (time.perf_counter() - started)
                if batch and (ahead > 0.1 or len(batch) >= 1000):
                    send()
                if ahead > 0.1:
                    sleep(ahead)
                batch.append(event)
            if batch:
                send()
        except KeyboardInterrupt:
            tqdm.write("replay: stopped")
    report.seconds = time.perf_counter() - started
    return report
