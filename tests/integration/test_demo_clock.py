"""Commands that take the demo dataset's own dates translate them by the recorded shift,
so a demo stored in the present evaluates and trains exactly as the unmoved data did."""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from promo.adapters.model_store import ModelStore
from promo.cli import cli
from promo.services import catalog, demo_clock, interactions
from tests.conftest import empty_all_tables
from tests.integration.test_models import PAIRED, record_campaigns

DATASET_DAY0 = dt.datetime(2017, 1, 2, 9, 0, tzinfo=dt.timezone.utc)
SHIFT = dt.timedelta(weeks=516)


def load_history(runtime, day0: dt.datetime) -> None:
    """A small shop starting at ``day0``: pair buyers, popular products, three campaigns."""
    def purchase(event_id, customer, sku, day):
        return {"event_id": event_id, "customer": customer, "sku": sku, "type": "purchase", "quantity": 1,
                "value": 2.0, "channel": "store", "location": "S1",
                "occurred_at": day0 + dt.timedelta(days=day, minutes=len(event_id))}

    catalog.upsert_locations(runtime.unit_of_work(write=True),
                             [{"code": "S1", "name": "S1", "kind": "store", "channels": ["store"]}])
    skus = ["x", "a", "b", *(f"p{i}" for i in range(6))]
    catalog.upsert_products(runtime.unit_of_work(write=True),
                            [{"sku": sku, "name": sku, "price": 2.0, "currency": "USD"} for sku in skus])
    events = [purchase(f"x{week}", "only-x", "x", 7 * week) for week in range(20)]
    for n, customer in enumerate(PAIRED):
        for visit in range(3):
            day = 3 * n + 20 * visit
            events += [purchase(f"{customer}-a{visit}", customer, "a", day),
                       purchase(f"{customer}-b{visit}", customer, "b", day)]
    for n in range(30):
        for rank in range(6):
            if n % (rank + 1) == 0:
                events.append(purchase(f"pop{n}-{rank}", f"shopper{n}", f"p{rank}", 100 + n))
    interactions.record_interactions(runtime.unit_of_work(write=True), events)
    record_campaigns(runtime, day0)


def record_demo_shift(runtime, shift: dt.timedelta) -> None:
    today = (DATASET_DAY0 + shift).date() + dt.timedelta(days=200)
    recorded = demo_clock.fix_shift(runtime.unit_of_work(write=True), DATASET_DAY0.date(), today)
    assert recorded == demo_clock.shift_of(runtime.unit_of_work())


@pytest.fixture
def promo(cli_runner, database_url, runtime):
    env = {"PROMO_DATABASE_URL": database_url, "PROMO_ENV": "test", "PROMO_LOG_LEVEL": "WARNING",
           "PROMO_CONFIG": None, "PROMO_MODEL_DIR": runtime.settings.model_dir}
    return lambda *args: cli_runner.invoke(cli, list(args), env=env)


def test_the_recorded_shift_is_whole_weeks_and_translates_dataset_dates(runtime):
    record_demo_shift(runtime, SHIFT)
    shift = demo_clock.shift_of(runtime.unit_of_work())

    assert shift.days % 7 == 0 and shift > dt.timedelta(0)
    moment = dt.datetime(2017, 11, 1, tzinfo=dt.timezone.utc)
    assert demo_clock.to_stored(runtime.unit_of_work(), moment) == moment + shift
    assert (moment + shift).weekday() == moment.weekday()


def test_evaluating_the_demo_in_the_present_with_dataset_cutoffs_gives_the_figures_of_the_unmoved_data(
        promo, runtime):
    arguments = ("evaluate", "--quiet", "--no-als", "--markdown", "--cutoff", "2017-04-12",
                 "--response-cutoff", "2017-03-12")
    load_history(runtime, DATASET_DAY0)
    unmoved = promo(*arguments)
    assert unmoved.exit_code == 0, unmoved.output

    empty_all_tables(runtime.engine)
    record_demo_shift(runtime, SHIFT)
    shift = demo_clock.shift_of(runtime.unit_of_work())
    load_history(runtime, DATASET_DAY0 + shift)
    moved = promo(*arguments)

    assert moved.exit_code == 0, moved.output
    assert "(2017-04-12)" in moved.output          # reported in the dataset's dates
    assert without_fit_times(moved.output) == without_fit_times(unmoved.output)


def without_fit_times(report: str) -> str:
    """The report without the recommenders' fit seconds (the last column of their table),
    which are wall-clock times: 0.0 in one run and 0.1 in the next on a busy machine."""
    return re.sub(r"\| \d+\.\d \|$", "| - |", report, flags=re.MULTILINE)


def test_train_until_takes_a_dataset_date_on_the_demo(promo, runtime):
    record_demo_shift(runtime, SHIFT)
    shift = demo_clock.shift_of(runtime.unit_of_work())
    load_history(runtime, DATASET_DAY0 + shift)

    assert promo("train", "--model", "recommender", "--until", "2017-02-15", "--quiet").exit_code == 0

    store = ModelStore(runtime.settings.model_dir)
    data_until = store.load("recommender", store.versions("recommender")[-1]).arrays["data_until"][()]
    until = np.datetime64((dt.datetime(2017, 2, 15) + shift).isoformat())
    assert until - np.timedelta64(14, "D") < data_until < until
