"""Cart pricing (promo.domain.checkout): worked examples and properties over random carts
and promotions: a discount never exceeds its line nor goes below zero, every amount is
in the currency's minor unit, the totals add up, budgets hold, an exclusive promotion is
alone on its lines, and buy X get Y frees exactly the cheapest units of each group."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from promo.domain.campaigns import Discount
from promo.domain.checkout import (
    BUDGET_EXHAUSTED,
    EXCLUSIVE_CONFLICT,
    MIN_QUANTITY,
    Line,
    Promotion,
    minor_unit,
    price_cart,
    to_minor,
)

PRODUCTS = (1, 2, 3, 4, 5)


def line(product: int, quantity: int, price: str) -> Line:
    return Line(f"sku{product}", product, quantity, Decimal(price))


def promotion(campaign_id: int, discount: dict, products=PRODUCTS, priority=0, exclusive=False,
              budget=None) -> Promotion:
    return Promotion(campaign_id, f"cmp-{campaign_id}", Discount.of(discount), priority, exclusive,
                     frozenset(products), None if budget is None else Decimal(budget))


def test_minor_units_follow_the_currency():
    assert (minor_unit("usd"), minor_unit("JPY"), minor_unit("KWD")) == (Decimal("0.01"), Decimal(1),
                                                                           Decimal("0.001"))


def test_yen_amounts_are_rounded_to_whole_yen():
    priced = price_cart([line(1, 3, "333")], [promotion(1, {"type": "percent", "value": 15})], "JPY")
    assert priced.discount == Decimal("150")            # 999 x 15% = 149.85 -> 150


def test_buy_x_get_y_frees_the_cheapest_units_of_each_full_group():
    priced = price_cart([line(1, 1, "9.00"), line(2, 2, "4.00"), line(3, 3, "1.00")],
                        [promotion(1, {"type": "buy_x_get_y", "buy": 2, "get": 1})], "USD")
    # 9, 4, 4 | 1, 1, 1: a 4.00 and a 1.00 free.
    assert {i: str(d) for i, d in priced.applied[0].line_discounts.items()} == {1: "4.00", 2: "1.00"}
    short = price_cart([line(1, 2, "9.00")], [promotion(1, {"type": "buy_x_get_y", "buy": 2, "get": 1})], "USD")
    assert short.refused[0][1] == MIN_QUANTITY


def test_a_budget_refuses_a_discount_it_cannot_cover_whole():
    priced = price_cart([line(1, 2, "5.00")], [promotion(1, {"type": "percent", "value": 50}, budget="4.99")], "USD")
    assert priced.applied == () and priced.refused[0][1] == BUDGET_EXHAUSTED


discounts = st.one_of(
    st.builds(lambda v: {"type": "percent", "value": v}, st.integers(1, 100)),
    st.builds(lambda v: {"type": "amount_off", "value": v}, st.decimals("0.01", "30", places=2)),
    st.builds(lambda v: {"type": "fixed_price", "value": v}, st.decimals("0", "30", places=2)),
    st.builds(lambda b, g: {"type": "buy_x_get_y", "buy": b, "get": g}, st.integers(1, 4), st.integers(1, 3)),
)
promotions = st.lists(st.tuples(
    discounts, st.sets(st.sampled_from(PRODUCTS), min_size=1), st.integers(0, 3), st.booleans(),
    st.one_of(st.none(), st.decimals("0", "20", places=2))), min_size=1, max_size=5)
lines = st.lists(st.tuples(st.sampled_from(PRODUCTS + (None,)), st.integers(1, 12),
                           st.decimals("0", "50", places=4)), min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(lines, promotions, st.sampled_from(("USD", "JPY", "KWD")))
def test_discounts_stay_within_their_lines_and_the_totals_add_up(cart, offered, currency):
    items = [Line(f"sku{p}", p, q, price) for p, q, price in cart]
    promos = [promotion(n, d, products, priority, exclusive, budget)
              for n, (d, products, priority, exclusive, budget) in enumerate(offered)]
    unit = minor_unit(currency)

    priced = price_cart(items, promos, currency)

    for index, item in enumerate(items):
        discount = priced.line_discount(index)
        assert Decimal(0) <= discount <= to_minor(item.amount, unit)
        if item.product_id is None:
            assert discount == 0
    for applied in priced.applied:
        for amount in applied.line_discounts.values():
            assert amount > 0 and amount == amount.quantize(unit)
        if applied.promotion.budget_left is not None:
            assert applied.total <= applied.promotion.budget_left
    assert priced.discount == sum((priced.line_discount(i) for i in range(len(items))), Decimal(0))
    assert priced.total == priced.subtotal - priced.discount >= 0
    # Each promotion either applied or was refused with a reason; never both, never neither.
    assert sorted([a.promotion.campaign_id for a in priced.applied] + [p.campaign_id for p, _ in priced.refused]) \
        == sorted(p.campaign_id for p in promos)
    # An exclusive promotion is alone on every line it discounts.
    for applied in priced.applied:
        if applied.promotion.exclusive:
            for index in applied.line_discounts:
                assert [a for a in priced.applied if index in a.line_discounts] == [applied]
    for promo, reason in priced.refused:
        if reason == EXCLUSIVE_CONFLICT:
            assert any(set(a.line_discounts) & {i for i, it in enumerate(items) if it.product_id in promo.product_ids}
                       for a in priced.applied)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.decimals("0.01", "20", places=2)), min_size=1, max_size=6),
       st.integers(1, 4), st.integers(1, 3))
def test_buy_x_get_y_alone_frees_the_cheapest_of_each_group(cart, buy, get):
    items = [Line(f"sku{n}", 1, q, price) for n, (q, price) in enumerate(cart)]
    units = sorted((price for _, (q, price) in enumerate(cart) for _ in range(q)), reverse=True)

    priced = price_cart(items, [promotion(1, {"type": "buy_x_get_y", "buy": buy, "get": get})], "USD")

    groups = len(units) // (buy + get)
    expected = sum((units[g * (buy + get) + buy:(g + 1) * (buy + get)] for g in range(groups)), [])
    if groups == 0:
        assert priced.refused[0][1] == MIN_QUANTITY
    else:
        assert priced.discount == sum(expected, Decimal(0))


# --- uplift (promo.domain.reports), checked against figures worked out by hand ---------------

def test_uplift_and_its_interval_match_the_hand_computed_fixture():
    from promo.domain.reports import uplift

    # 6 of 20 treated bought (0.30), 2 of 10 held out (0.20): difference 0.10;
    # se = sqrt(0.3 x 0.7 / 20 + 0.2 x 0.8 / 10) = sqrt(0.0265) = 0.1627882;
    # 1.959964 x 0.1627882 = 0.3190590 -> [-0.2190590, 0.4190590]; relative 0.10 / 0.20 = 0.5.
    found = uplift(20, 6, 10, 2)

    assert round(found.difference, 7) == 0.1
    assert round(found.standard_error, 7) == 0.1627882
    assert [round(x, 7) for x in found.interval] == [-0.219059, 0.419059]
    assert round(found.relative, 7) == 0.5
    assert uplift(0, 0, 10, 1) is None and uplift(10, 1, 0, 0) is None
