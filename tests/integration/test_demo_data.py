"""The demo loader, on a small slice of the real Complete Journey data."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from promo.adapters import completejourney
from promo.adapters.orm import Campaign, Customer, DatasetTimeline, Interaction, Location, Product, Redemption, StockEvent
from promo.services import demo_clock, demo_data, stock


@pytest.fixture(scope="module")
def small_journey() -> completejourney.CompleteJourney:
    """The first 3,000 purchases, with the products and households they touch."""
    full = completejourney.CompleteJourney.read()
    transactions = full.transactions.sort_values("transaction_timestamp").head(3000)
    households = set(transactions["household_id"])
    return completejourney.CompleteJourney(
        transactions=transactions,
        products=full.products[full.products["product_id"].isin(set(transactions["product_id"]))],
        demographics=full.demographics[full.demographics["household_id"].isin(households)],
        campaigns=full.campaigns[full.campaigns["household_id"].isin(households)],
        campaign_descriptions=full.campaign_descriptions,
        coupons=full.coupons[full.coupons["product_id"].isin(set(transactions["product_id"]))],
        coupon_redemptions=full.coupon_redemptions[full.coupon_redemptions["household_id"].isin(households)],
    )


def count(runtime, model) -> int:
    with runtime.unit_of_work() as uow:
        return uow.session.scalar(select(func.count()).select_from(model))


def test_loads_every_household_store_product_and_purchase_with_the_dataset_ids(runtime, small_journey):
    report = demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)

    transactions = small_journey.transactions
    assert report.interactions_accepted == len(transactions) == count(runtime, Interaction)
    assert count(runtime, Location) == transactions["store_id"].nunique() + 1  # + the web fulfilment centre
    assert count(runtime, Customer) == len(set(transactions["household_id"]) | set(small_journey.campaigns["household_id"]))
    first = transactions.iloc[0]
    with runtime.unit_of_work() as uow:
        stored = uow.session.scalars(
            select(Interaction).where(Interaction.event_id == f"cj:{first.basket_id}:{first.product_id}")).one()
        assert uow.session.get(Customer, stored.customer_id).external_id == str(first.household_id)
        assert uow.session.get(Product, stored.product_id).sku == str(first.product_id)
        assert uow.session.get(Location, stored.location_id).code == str(first.store_id)
        assert stored.occurred_at == first.transaction_timestamp.to_pydatetime().replace(tzinfo=dt.timezone.utc) \
            + dt.timedelta(days=report.shift_days)
        assert stored.value == pytest.approx(first.sales_value)


def test_running_the_load_twice_adds_nothing_the_second_time(runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)
    again = demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)

    assert again.interactions_accepted == 0
    assert again.interactions_duplicate == len(small_journey.transactions)
    assert count(runtime, Interaction) == len(small_journey.transactions)
    assert count(runtime, Product) == again.products


def test_if_empty_skips_a_database_that_holds_products(runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)
    assert demo_data.load_demo(runtime, progress=False, if_empty=True, read=lambda: small_journey).skipped


def test_as_of_loads_only_purchases_before_the_date(runtime, small_journey):
    timestamps = small_journey.transactions["transaction_timestamp"]
    cutoff = timestamps.iloc[len(timestamps) // 2]
    as_of = cutoff.to_pydatetime().replace(tzinfo=dt.timezone.utc)

    report = demo_data.load_demo(runtime, as_of=as_of, progress=False, read=lambda: small_journey)

    expected = int((timestamps < cutoff).sum())
    assert 0 < expected < len(timestamps)
    assert report.interactions_accepted == expected == count(runtime, Interaction)
    with runtime.unit_of_work() as uow:
        latest = uow.session.scalar(select(func.max(Interaction.occurred_at)))
    assert latest < demo_clock.to_stored(runtime.unit_of_work(), as_of)


def test_prices_are_the_median_unit_price_sold(small_journey):
    records = {p["sku"]: p for p in completejourney.products(small_journey)}
    sold = small_journey.transactions
    sold = sold[(sold["quantity"] > 0) & (sold["sales_value"] > 0)]
    product = sold["product_id"].value_counts().index[0]
    rows = sold[sold["product_id"] == product]
    expected = round(float((rows["sales_value"] / rows["quantity"]).median()), 2)

    assert records[str(product)]["price"] == pytest.approx(expected)
    assert records[str(product)]["attributes"]["price_source"] == "median_sold"
    assert all(record["price"] > 0 and record["currency"] == "USD" for record in records.values())


def test_home_store_is_the_store_a_household_visits_most(small_journey):
    transactions = small_journey.transactions
    household = transactions["household_id"].value_counts().index[0]
    baskets = transactions[transactions["household_id"] == household].groupby("store_id")["basket_id"].nunique()
    favourite = str(baskets.sort_values(ascending=False).index[0])

    record = next(c for c in completejourney.customers(small_journey) if c["id"] == str(household))
    assert record["home_location"] == favourite


def test_demographics_become_customer_attributes(small_journey):
    known = small_journey.demographics.iloc[0]
    record = next(c for c in completejourney.customers(small_journey) if c["id"] == str(known.household_id))
    assert record["attributes"]["age"] == str(known.age)
    assert record["attributes"]["income"] == str(known.income)


# --- the demo clock: the dataset lives in the present --------------------------------------

TODAY = dt.date(2026, 11, 30)        # a Monday


def stored_range(runtime, column):
    with runtime.unit_of_work() as uow:
        return uow.session.execute(select(func.min(column), func.max(column))).one()


def test_the_demo_is_stored_moved_by_whole_weeks_so_that_its_last_day_is_yesterday(runtime, small_journey):
    report = demo_data.load_demo(runtime, progress=False, read=lambda: small_journey, today=TODAY)

    stamps = small_journey.transactions["transaction_timestamp"]
    first, last = stored_range(runtime, Interaction.occurred_at)
    shift = demo_clock.shift_of(runtime.unit_of_work())
    assert shift.days == report.shift_days > 0 and shift.days % 7 == 0
    assert TODAY - dt.timedelta(days=7) < last.date() < TODAY
    assert last.replace(tzinfo=None) == stamps.max().to_pydatetime() + shift
    assert first.replace(tzinfo=None) == stamps.min().to_pydatetime() + shift
    assert last.weekday() == stamps.max().weekday()                   # weekdays stay
    assert f"stored as {last.date()}" in report.summary()


def test_the_dataset_s_last_day_becomes_exactly_yesterday_when_the_weekdays_allow(runtime, small_journey):
    last_day = small_journey.transactions["transaction_timestamp"].max().date()
    today = dt.date(2026, 11, 1) + dt.timedelta(days=(last_day.weekday() - dt.date(2026, 11, 1).weekday()) % 7 + 1)

    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey, today=today)

    assert stored_range(runtime, Interaction.occurred_at)[1].date() == today - dt.timedelta(days=1)


def test_campaigns_and_redemptions_move_with_the_purchases(runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey, today=TODAY)
    shift = demo_clock.shift_of(runtime.unit_of_work())

    with runtime.unit_of_work() as uow:
        code, starts_at = uow.session.execute(select(Campaign.code, Campaign.starts_at).order_by(Campaign.code)).first()
        event_id, redeemed_at = uow.session.execute(
            select(Redemption.event_id, Redemption.redeemed_at).order_by(Redemption.event_id)).first()
    source = small_journey.campaign_descriptions.set_index("campaign_id").loc[int(code)]
    assert starts_at.replace(tzinfo=None) == source.start_date.to_pydatetime() + shift
    dataset_day = event_id.rsplit(":", 1)[1]                          # the id keeps the dataset's date
    assert redeemed_at.replace(tzinfo=None) == dt.datetime.fromisoformat(dataset_day) + dt.timedelta(hours=12) + shift


def test_a_later_load_keeps_the_shift_the_first_load_recorded(runtime, small_journey):
    timestamps = small_journey.transactions["transaction_timestamp"]
    as_of = timestamps.iloc[len(timestamps) // 2].to_pydatetime().replace(tzinfo=dt.timezone.utc)
    first = demo_data.load_demo(runtime, as_of=as_of, progress=False, read=lambda: small_journey, today=TODAY)
    later = demo_data.load_demo(runtime, progress=False, read=lambda: small_journey,
                                today=TODAY + dt.timedelta(weeks=3))

    assert later.shift_days == first.shift_days == demo_clock.shift_of(runtime.unit_of_work()).days
    # The first load moved its own last day (before --as-of) to yesterday.
    assert first.last_day == timestamps[timestamps < as_of.replace(tzinfo=None)].max().date()
    assert TODAY - dt.timedelta(days=7) < first.last_day + dt.timedelta(days=first.shift_days) < TODAY
    assert later.interactions_accepted == len(timestamps) - first.interactions_accepted


def test_a_database_loaded_before_shifts_were_recorded_keeps_its_dates(runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey, move_dates=False)
    with runtime.engine.begin() as connection:          # as a database from before this table
        connection.execute(DatasetTimeline.__table__.delete())

    again = demo_data.load_demo(runtime, progress=False, read=lambda: small_journey, today=TODAY)

    assert again.shift_days == 0 == demo_clock.shift_of(runtime.unit_of_work()).days
    assert stored_range(runtime, Interaction.occurred_at)[1].replace(tzinfo=None) == \
        small_journey.transactions["transaction_timestamp"].max().to_pydatetime()


def test_keep_dates_stores_the_dataset_s_own_dates(runtime, small_journey):
    report = demo_data.load_demo(runtime, progress=False, read=lambda: small_journey, move_dates=False)

    assert report.shift_days == 0 == demo_clock.shift_of(runtime.unit_of_work()).days
    assert stored_range(runtime, Interaction.occurred_at)[1].replace(tzinfo=None) == \
        small_journey.transactions["transaction_timestamp"].max().to_pydatetime()


def test_without_demo_data_dataset_dates_are_taken_as_they_are(runtime):
    moment = dt.datetime(2017, 11, 1, tzinfo=dt.timezone.utc)
    assert demo_clock.to_stored(runtime.unit_of_work(), moment) == moment


def test_demo_customers_are_recent_and_segmented_in_the_present(client, admin, runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)
    household = str(small_journey.transactions["household_id"].value_counts().index[0])

    profile = client.get(f"/v1/customers/{household}", headers=admin).json["profile"]
    # The slice is the dataset's first days, so its last purchases are days old, not years.
    assert profile["recency_days"] < 7
    assert "lapsing" not in profile["segments"]
    assert dt.date.fromisoformat(profile["as_of"][:10]) >= dt.date.today() - dt.timedelta(days=7)


def test_demo_stores_serve_the_store_and_the_mobile_app(client, admin, runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)
    runtime.stock.follower.catch_up()
    counts, _ = completejourney.synthetic_stock(small_journey.transactions, dt.date.today())
    stocked = next(c for c in counts if c["quantity"] > 0 and c["location"] != completejourney.WEB_FULFILMENT_CODE)

    store = client.get(f"/v1/locations/{stocked['location']}", headers=admin).json
    answer = client.get("/v1/availability", headers=admin, query_string={
        "sku": stocked["sku"], "channel": "mobile", "location": stocked["location"]})

    assert store["channels"] == ["store", "mobile"]
    assert answer.status_code == 200, answer.json
    assert (answer.json["available_now"], answer.json["quantity_now"]) == (True, stocked["quantity"])


# --- synthetic stock and replay -----------------------------------------------------------

def test_the_demo_stock_is_synthetic_reproducible_and_partly_empty_on_purpose(small_journey):
    today = dt.date(2026, 11, 25)
    counts, inbound = completejourney.synthetic_stock(small_journey.transactions, today)
    again = completejourney.synthetic_stock(small_journey.transactions, today)

    assert (counts, inbound) == again
    quantities = [c["quantity"] for c in counts]
    assert 0 in quantities and max(quantities) > 2
    assert {c["location"] for c in counts} >= {completejourney.WEB_FULFILMENT_CODE}
    assert all(i["eta"].date() > today for i in inbound)
    empty = {(c["sku"], c["location"]) for c in counts if c["quantity"] == 0}
    assert {(i["sku"], i["location"]) for i in inbound} <= empty


def test_the_demo_load_puts_the_synthetic_stock_in_the_log_and_the_view(runtime, small_journey):
    report = demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)

    runtime.stock.follower.catch_up()
    assert report.stock_positions > 0
    assert runtime.stock.view.as_of_seq == report.stock_positions + report.stock_inbound
    assert stock.verify(runtime.unit_of_work(), runtime.stock)["ok"]


def test_replay_sends_later_purchases_as_sale_events_once(runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)
    start = runtime.stock.view.as_of_seq
    runtime.stock.follower.catch_up()
    before = runtime.stock.view.as_of_seq

    first = demo_data.replay(runtime, from_week=1, speed=0, limit=40, progress=False, read=lambda: small_journey)
    again = demo_data.replay(runtime, from_week=1, speed=0, limit=40, progress=False, read=lambda: small_journey)

    assert first.events == again.events == 40
    assert first.last_seq == before + 40 >= start + 40
    assert again.last_seq == first.last_seq          # the second replay's events were all duplicates
    with runtime.unit_of_work() as uow:
        sales = uow.session.execute(
            select(func.count()).select_from(StockEvent).where(StockEvent.type == "sale")).scalar_one()
    assert sales == 40


def test_replay_paces_events_by_the_dataset_clock(runtime, small_journey):
    demo_data.load_demo(runtime, progress=False, read=lambda: small_journey)
    waits: list[float] = []

    demo_data.replay(runtime, from_week=1, speed=60.0, limit=300, progress=False, read=lambda: small_journey,
                     sleep=waits.append)

    stamps = small_journey.transactions.sort_values("transaction_timestamp")["transaction_timestamp"]
    span = (stamps.iloc[299] - stamps.iloc[0]).total_seconds() / 60.0
    assert waits and max(waits) <= span + 1
