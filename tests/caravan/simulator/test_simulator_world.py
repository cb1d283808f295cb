"""The World: deterministic, backfill-stable, internally consistent records."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from caravan.simulator import world as world_module
from caravan.simulator.world import (
    Campaign,
    CampaignDay,
    Order,
    OrderItem,
    World,
    order_gross_revenue,
    order_net_revenue,
    summarize,
)

DAY = date(2026, 11, 1)
WEEK = [DAY + timedelta(days=n) for n in range(7)]


def _order(
    order_id: int,
    landing_site: str,
    items: list[tuple[int, str]],
    discount: str = "0.00",
    status: str = "delivered",
    is_first_order: bool = False,
    day: date = DAY,
) -> Order:
    """A hand-built order; items are (quantity, unit price)."""
    created_at = datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)
    return Order(
        order_id=order_id,
        customer_id=1,
        created_at=created_at,
        status=status,
        currency="USD",
        discount_amount=Decimal(discount),
        landing_site=landing_site,
        is_first_order=is_first_order,
        items=tuple(
            OrderItem(order_id * 10 + k, order_id, 1000 + k, quantity, Decimal(price))
            for k, (quantity, price) in enumerate(items, start=1)
        ),
        updated_at=created_at,
    )


def test_same_seed_gives_identical_records_and_another_seed_different_ones():
    assert World(seed=1).orders_on(DAY) == World(seed=1).orders_on(DAY)
    assert World(seed=1).campaign_performance(DAY) == World(seed=1).campaign_performance(DAY)
    assert World(seed=1).orders_on(DAY) != World(seed=2).orders_on(DAY)
    assert World(seed=1).customers_created_on(DAY) != World(seed=2).customers_created_on(DAY)
    assert World(seed=1).campaign_performance(DAY) != World(seed=2).campaign_performance(DAY)


def test_records_are_identical_in_another_process_with_another_hash_seed():
    script = (
        "from datetime import date; from caravan.simulator.world import World; "
        "w = World(seed=5); d = date(2026, 11, 1); "
        "print(repr((w.orders_on(d), w.customers_created_on(d), w.campaign_performance(d))))"
    )
    other = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout.strip()
    here = World(seed=5)
    assert other == repr(
        (here.orders_on(DAY), here.customers_created_on(DAY), here.campaign_performance(DAY))
    )


def test_a_day_is_the_same_whether_or_not_other_days_were_generated_first():
    world_module._customers_created_on.cache_clear()
    alone = World(seed=3).orders_on(DAY)
    world_module._customers_created_on.cache_clear()
    for n in range(-70, 10):
        World(seed=3).orders_on(DAY + timedelta(days=n))
    assert World(seed=3).orders_on(DAY) == alone


def test_every_order_references_a_customer_created_on_or_before_it():
    world = World()
    for day in WEEK:
        for order in world.orders_on(day):
            customer = world.customer(order.customer_id)
            assert customer in world.customers_created_on(customer.created_at.date())
            assert customer.created_at <= order.created_at
            assert order.created_at.date() == day
            assert customer.created_at.date() >= day - timedelta(days=60)
            for item in order.items:
                assert item.order_id == order.order_id


def test_every_new_customer_places_exactly_one_first_order_that_day():
    world = World()
    for day in WEEK:
        new_ids = [c.customer_id for c in world.customers_created_on(day)]
        first_order_ids = [o.customer_id for o in world.orders_on(day) if o.is_first_order]
        assert sorted(first_order_ids) == sorted(new_ids)
        returning = [o for o in world.orders_on(day) if not o.is_first_order]
        assert all(o.customer_id not in new_ids for o in returning)


def test_ids_are_unique_across_days():
    world = World()
    orders = [o for day in WEEK for o in world.orders_on(day)]
    items = [i for o in orders for i in o.items]
    customers = [c for day in WEEK for c in world.customers_created_on(day)]
    assert len({o.order_id for o in orders}) == len(orders)
    assert len({i.order_item_id for i in items}) == len(items)
    assert len({c.customer_id for c in customers}) == len(customers)
    assert len({c.email.strip().lower() for c in customers}) == len(customers)


def test_records_have_the_documented_shapes():
    world = World()
    products = {p.product_id: p for p in world.products()}
    assert {p.category for p in products.values()} == {"footwear", "apparel", "accessories"}
    for row in world.campaign_performance(DAY):
        assert row.cost_micros % 10_000 == 0
        assert 10_000_000 <= row.cost_micros <= 1_000_000_000  # $10 to $1,000 a day
        assert 0 <= row.clicks <= row.impressions
        assert row.conversions == round(row.conversions, 2)
    for order in world.orders_on(DAY):
        assert order.created_at.tzinfo == UTC
        assert order.status in {"placed", "shipped", "delivered", "cancelled"}
        assert 1 <= len(order.items) <= 3
        gross = sum(i.quantity * i.unit_price for i in order.items)
        assert order.discount_amount in {Decimal("0.00"), (gross / 10).quantize(Decimal("0.01"))}
        for item in order.items:
            assert 1 <= item.quantity <= 3
            assert item.unit_price == products[item.product_id].price


def test_rates_over_two_months_are_near_their_targets():
    world = World()
    orders = [o for n in range(60) for o in world.orders_on(DAY + timedelta(days=n))]
    cancelled = sum(o.status == "cancelled" for o in orders) / len(orders)
    from_google = sum("utm_source=google&utm_medium=cpc" in o.landing_site for o in orders)
    assert 35 <= len(orders) / 60 <= 45
    assert 0.02 <= cancelled <= 0.07
    assert 0.40 <= from_google / len(orders) <= 0.50
    assert all("utm_" not in o.landing_site for o in orders if "utm_source" not in o.landing_site)


def test_scale_multiplies_the_volume():
    days = [DAY + timedelta(days=n) for n in range(30)]
    small = sum(len(World(scale=1).orders_on(d)) for d in days)
    large = sum(len(World(scale=3).orders_on(d)) for d in days)
    assert 2.6 <= large / small <= 3.4


def test_order_revenue_of_a_hand_built_order():
    order = _order(1, "/", [(2, "19.50"), (1, "7.99")], discount="4.70")
    assert order_gross_revenue(order) == Decimal("46.99")  # 2 × 19.50 + 7.99
    assert order_net_revenue(order) == Decimal("42.29")  # 46.99 − 4.70


def test_summarize_attributes_last_touch_and_skips_cancelled_orders():
    campaigns = [
        Campaign("11", "A", "ENABLED", "SEARCH"),
        Campaign("22", "B", "ENABLED", "DISPLAY"),
    ]
    google_a = "/products/X?utm_source=google&utm_medium=cpc&utm_campaign=11"
    orders = [
        _order(1, google_a, [(1, "100.00")], discount="10.00", is_first_order=True),
        _order(2, "/?utm_source=facebook&utm_medium=cpc&utm_campaign=11", [(2, "25.00")]),
        _order(3, google_a, [(1, "80.00")], status="cancelled", is_first_order=True),
        _order(4, "/products/Y", [(3, "5.00")], day=DAY + timedelta(days=1)),
    ]
    performance = [
        CampaignDay("11", DAY, cost_micros=12_340_000, impressions=100, clicks=7, conversions=1.5),
        CampaignDay("22", DAY, cost_micros=1_000_000, impressions=50, clicks=2, conversions=0.0),
    ]
    truth = summarize(orders, performance, campaigns)
    assert truth.orders == 4
    assert truth.revenue_orders == 3
    assert truth.gross_revenue == Decimal("165.00")  # 100 + 50 + 15
    assert truth.discount_amount == Decimal("10.00")
    assert truth.net_revenue == Decimal("155.00")
    assert truth.net_revenue_by_day == {DAY: Decimal("140.00"), DAY + timedelta(days=1): 15}
    assert truth.attributed_revenue_by_campaign == {"11": Decimal("90.00"), "22": 0}
    assert truth.attributed_orders_by_campaign == {"11": 1, "22": 0}
    assert truth.direct_revenue == Decimal("65.00")  # facebook is not google cpc
    assert truth.direct_orders == 2
    assert truth.new_customers == 1
    assert truth.units == 6
    assert truth.spend == Decimal("13.34")
    assert truth.spend_by_campaign == {"11": Decimal("12.34"), "22": Decimal("1.00")}
    assert (truth.impressions, truth.clicks) == (150, 9)


def test_ground_truth_revenue_splits_add_up():
    truth = World().ground_truth(WEEK)
    attributed = sum(truth.attributed_revenue_by_campaign.values())
    assert attributed + truth.direct_revenue == truth.net_revenue
    assert sum(truth.net_revenue_by_day.values()) == truth.net_revenue
    assert truth.net_revenue == truth.gross_revenue - truth.discount_amount
    assert set(truth.net_revenue_by_day) == set(WEEK)
    assert truth.net_revenue.as_tuple().exponent == -2
    assert 0 < truth.new_customers <= truth.revenue_orders < truth.orders


def test_a_non_positive_scale_is_refused():
    with pytest.raises(ValueError, match="scale"):
        World(scale=0)
