"""How far each live campaign's limits are used, as this process's serving state keeps it:
counts per customer follow redemptions, cancellations and rows that commit out of id
order; a count moves only its customer's cached answers, a reached cap everyone's.
(promo/services/redemption_tallies.py)"""
from __future__ import annotations

from sqlalchemy import func, select

from promo.adapters.orm import Customer, Redemption
from promo.services import redemption_tallies
from promo.services.redemption_tallies import RedemptionTallies
from tests.api.test_checkout import redeem
from tests.api.test_offers import NOW, live, offers, shop  # noqa: F401  (a fixture)


def customer_ids(runtime, *names: str) -> dict[str, int]:
    with runtime.unit_of_work() as uow:
        return dict(uow.session.execute(select(Customer.external_id, Customer.id)
                                        .where(Customer.external_id.in_(names))).all())


def campaign_id(runtime, code: str) -> int:
    with runtime.unit_of_work() as uow:
        return uow.campaigns.get(code).id


def imported(runtime, campaign: int, customer: int, redemption_id: int) -> None:
    """A redemption row with a chosen id, counted as an import of history counts it."""
    with runtime.unit_of_work(write=True) as uow:
        uow.session.add(Redemption(id=redemption_id, event_id=f"imported-{redemption_id}", campaign_id=campaign,
                                   customer_id=customer, redeemed_at=NOW, discount_total=0.2))
        uow.session.flush()
        uow.checkout.recount([campaign])
        uow.commit()


def from_scratch(runtime) -> dict:
    """The tallies a process starting now would read (every campaign read whole)."""
    with runtime.session_factory() as session:
        changes = RedemptionTallies().refresh(session, runtime.serving.campaigns.campaigns)
    return {cid: (t.redemptions, t.discount_spent, dict(t.by_customer)) for cid, t in changes.tallies.items()}


def kept(runtime) -> dict:
    runtime.serving.refresh()
    return {cid: (t.redemptions, t.discount_spent, dict(t.by_customer)) for cid, t in runtime.serving.tallies.items()}


def test_counts_per_customer_follow_redemptions_cancellations_and_rows_committed_out_of_order(
        client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]}, limits={"per_customer": 5})
    cid = campaign_id(runtime, campaign["id"])
    ids = customer_ids(runtime, "ann", "bob", "cy")

    first = redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"])
    redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"])
    redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"], customer="bob")
    assert kept(runtime)[cid] == (3, 0.6, {ids["ann"]: 2, ids["bob"]: 1})

    cancelled = client.post(f"/v1/redemptions/{first['redemption_id']}/cancel", json={}, headers=channel)
    assert cancelled.status_code == 200
    assert kept(runtime)[cid] == (2, 0.4, {ids["ann"]: 1, ids["bob"]: 1})

    # PostgreSQL hands out ids before commit: a row can land below an id already read.
    with runtime.unit_of_work() as uow:
        newest = uow.session.scalar(select(func.max(Redemption.id)))
    imported(runtime, cid, ids["cy"], newest + 100)
    assert kept(runtime)[cid] == (3, 0.6, {ids["ann"]: 1, ids["bob"]: 1, ids["cy"]: 1})
    imported(runtime, cid, ids["bob"], newest + 50)
    assert kept(runtime)[cid] == (4, 0.8, {ids["ann"]: 1, ids["bob"]: 2, ids["cy"]: 1})

    assert kept(runtime) == from_scratch(runtime)


def test_a_customers_count_moves_only_their_answers_and_a_reached_cap_moves_everyones(
        client, marketing, channel, runtime, shop):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]},
                    limits={"per_customer": 1, "max_redemptions": 2})
    state = runtime.serving
    ids = customer_ids(runtime, "ann", "bob", "cy")
    assert all(offers(client, channel, name)["offers"] for name in ("ann", "bob", "cy"))
    version, stamps = state.tallies_version, {name: state.limit_stamp(i) for name, i in ids.items()}

    redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"])
    state.refresh()

    assert state.tallies_version == version
    assert {name: state.limit_stamp(i) - stamps[name] for name, i in ids.items()} == {"ann": 1, "bob": 0, "cy": 0}
    assert offers(client, channel, "ann")["offers"] == []
    assert offers(client, channel, "bob")["offers"] != []

    redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"], customer="bob")
    state.refresh()

    assert state.tallies_version == version + 1
    assert state.limit_stamp(ids["cy"]) == stamps["cy"]
    assert offers(client, channel, "cy")["offers"] == []


def test_a_cancellation_and_a_late_row_between_two_reads_are_put_right_by_the_periodic_reread(
        client, marketing, channel, runtime, shop, monkeypatch):
    campaign = live(client, marketing, runtime, products={"skus": ["milk"]}, limits={"per_customer": 5})
    cid = campaign_id(runtime, campaign["id"])
    ids = customer_ids(runtime, "ann", "bob")
    redeem(client, channel, [("milk", 1, "2.00")], campaign=campaign["id"])
    with runtime.unit_of_work() as uow:
        newest = uow.session.scalar(select(func.max(Redemption.id)))
    imported(runtime, cid, ids["bob"], newest + 100)
    assert kept(runtime)[cid][2] == {ids["ann"]: 1, ids["bob"]: 1}

    # Between two reads (another process's cancellation, so none here): ann's is
    # cancelled, and a row below the newest id lands for bob. The sum stays 2, as the
    # counter says: only the periodic reread can tell.
    with runtime.unit_of_work(write=True) as uow:
        row = uow.session.scalars(select(Redemption).where(Redemption.campaign_id == cid,
                                                           Redemption.customer_id == ids["ann"])).one()
        assert uow.checkout.cancel(row.id, NOW)
        uow.checkout.give_back_to_campaign(cid, 20)
        uow.checkout.give_back_for_customer(cid, ids["ann"])
        uow.commit()
    imported(runtime, cid, ids["bob"], newest + 50)
    assert kept(runtime)[cid][2] == {ids["ann"]: 1, ids["bob"]: 1}

    monkeypatch.setattr(redemption_tallies, "REREAD_SECONDS", 0.0)
    imported(runtime, cid, ids["bob"], newest + 200)      # any change runs a refresh

    assert kept(runtime)[cid][2] == {ids["bob"]: 3}
    assert kept(runtime) == from_scratch(runtime)
