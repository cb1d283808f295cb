"""The World: deterministic, backfill-stable, internally consistent records."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from caravan.simulator import world as world_module
from caravan.simulator.world import (
    Campaign,
    CampaignDay,
    MetaCampaign,
    MetaCampaignDay,
    Order,
    OrderItem,
    World,
    end_of_day,
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
    world_module.clear_caches()
    alone = World(seed=3).orders_on(DAY)
    world_module.clear_caches()
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
        assert order.status in {"placed", "shipped", "delivered", "cancelled", "refunded"}
        assert order.history[0] == (order.created_at, "placed")
        assert order.history[-1] == (order.updated_at, order.status)
        assert [at for at, _ in order.history] == sorted(at for at, _ in order.history)
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
    meta = sum(truth.meta_attributed_revenue_by_campaign.values())
    assert attributed > 0 and meta > 0 and truth.direct_revenue > 0
    assert attributed + meta + truth.direct_revenue == truth.net_revenue
    paid_orders = sum(truth.attributed_orders_by_campaign.values()) + sum(
        truth.meta_attributed_orders_by_campaign.values()
    )
    assert paid_orders + truth.direct_orders == truth.revenue_orders
    assert sum(truth.net_revenue_by_day.values()) == truth.net_revenue
    assert truth.net_revenue == truth.gross_revenue - truth.discount_amount
    assert set(truth.net_revenue_by_day) == set(WEEK)
    assert truth.net_revenue.as_tuple().exponent == -2
    assert 0 < truth.new_customers <= truth.revenue_orders < truth.orders


def test_a_non_positive_scale_is_refused():
    with pytest.raises(ValueError, match="scale"):
        World(scale=0)


def test_every_campaign_has_two_or_three_ad_groups_of_its_own():
    for seed in range(20):
        world = World(seed=seed)
        groups = world.ad_groups()
        campaigns = {c.campaign_id: c for c in world.campaigns()}
        assert {g.campaign_id for g in groups} == set(campaigns)
        for campaign_id in campaigns:
            assert 2 <= sum(g.campaign_id == campaign_id for g in groups) <= 3
        ids = [g.ad_group_id for g in groups]
        assert all(i.isdigit() for i in ids)
        assert ids == sorted(set(ids), key=int)
        assert set(ids).isdisjoint(campaigns)
        for group in groups:
            assert group.name.startswith(f"{campaigns[group.campaign_id].name} - ")
        assert sorted(g.status for g in groups).count("PAUSED") == 1
        assert {g.status for g in groups} == {"ENABLED", "PAUSED"}


def test_ad_groups_are_the_same_for_a_seed_and_leave_other_records_alone():
    assert World(seed=1).ad_groups() == World(seed=1).ad_groups()
    assert len({tuple(World(seed=seed).ad_groups()) for seed in range(10)}) > 1
    world_module.clear_caches()
    before = (World(seed=1).orders_on(DAY), World(seed=1).campaign_performance(DAY))
    world_module.clear_caches()
    World(seed=1).ad_groups()
    assert (World(seed=1).orders_on(DAY), World(seed=1).campaign_performance(DAY)) == before


def _params(landing_site: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(landing_site).query).items()}


def test_meta_has_a_usd_and_a_eur_account_with_campaigns_and_adsets():
    world = World()
    accounts = world.meta_ad_accounts()
    assert sorted(a.currency for a in accounts) == ["EUR", "USD"]
    assert all(a.account_id.isdigit() and len(a.account_id) == 15 for a in accounts)
    assert World(seed=1).meta_ad_accounts() != World(seed=2).meta_ad_accounts()
    campaigns = world.meta_campaigns()
    adsets = world.meta_adsets()
    by_account = {a.account_id: [c for c in campaigns if c.account_id == a.account_id]
                  for a in accounts}  # fmt: skip
    assert all(len(cs) >= 2 for cs in by_account.values())
    campaign_ids = {c.campaign_id for c in campaigns}
    assert campaign_ids.isdisjoint({c.campaign_id for c in world.campaigns()})
    for campaign in campaigns:
        own = [a for a in adsets if a.campaign_id == campaign.campaign_id]
        assert own and all(a.account_id == campaign.account_id for a in own)
        assert sum(a.daily_budget for a in own) == campaign.daily_budget


def test_some_untagged_orders_land_from_meta_ads_that_exist():
    world = World()
    orders = [o for n in range(60) for o in world.orders_on(DAY + timedelta(days=n))]
    meta = [o for o in orders if "utm_source=facebook" in o.landing_site]
    assert 0.15 <= len(meta) / len(orders) <= 0.25
    adsets = {a.adset_id: a.campaign_id for a in world.meta_adsets()}
    for order in meta:
        params = _params(order.landing_site)
        assert params["utm_medium"] == "paid_social"
        assert adsets[params["utm_content"]] == params["utm_campaign"]


def test_meta_campaign_rows_sum_the_adsets_and_claim_at_least_the_tagged_orders():
    world = World()
    adset_rows = world.meta_adset_performance(DAY)
    campaign_rows = world.meta_campaign_performance(DAY)
    assert len(adset_rows) == len(world.meta_adsets())
    assert len(campaign_rows) == len(world.meta_campaigns())
    currency = {a.account_id: a.currency for a in world.meta_ad_accounts()}
    tagged = {c.campaign_id: 0 for c in world.meta_campaigns()}
    for order in world.orders_on(DAY):
        if "utm_source=facebook" in order.landing_site:
            tagged[_params(order.landing_site)["utm_campaign"]] += 1
    for row in campaign_rows:
        own = [r for r in adset_rows if r.campaign_id == row.campaign_id]
        assert row.spend == sum(r.spend for r in own)
        assert row.spend.as_tuple().exponent == -2
        assert row.clicks == sum(r.clicks for r in own)
        assert row.currency == currency[row.account_id]
        assert tagged[row.campaign_id] <= row.purchases <= tagged[row.campaign_id] + 2 * len(own)
        assert row.purchases <= row.clicks <= row.impressions


def test_fx_rates_are_per_day_and_the_same_for_every_seed():
    world = World()
    assert world.fx_rate(DAY, "USD") == 1
    rates = [world.fx_rate(day, "EUR") for day in WEEK]
    assert all(Decimal("1.05") <= rate <= Decimal("1.11") for rate in rates)
    assert all(rate.as_tuple().exponent == -4 for rate in rates)
    assert len(set(rates)) > 1
    assert rates == [World(seed=9).fx_rate(day, "EUR") for day in WEEK]
    with pytest.raises(ValueError, match="GBP"):
        world.fx_rate(DAY, "GBP")


def test_summarize_converts_meta_spend_per_campaign_day_and_attributes_meta_orders():
    campaigns = [Campaign("11", "A", "ENABLED", "SEARCH")]
    meta = [
        MetaCampaign("900", "1", "US", "ACTIVE", "OUTCOME_SALES", Decimal(10)),
        MetaCampaign("800", "2", "EU", "ACTIVE", "OUTCOME_SALES", Decimal(10)),
    ]
    meta_rows = [
        MetaCampaignDay("900", "1", "USD", DAY, Decimal("20.00"), 1000, 30, 2),
        MetaCampaignDay("800", "2", "EUR", DAY, Decimal("100.00"), 500, 10, 0),
        MetaCampaignDay("800", "2", "EUR", DAY + timedelta(days=1), Decimal("10.05"), 80, 3, 1),
    ]
    rates = {DAY: Decimal("1.0850"), DAY + timedelta(days=1): Decimal("1.0833")}

    def fx(day, currency):
        return Decimal(1) if currency == "USD" else rates[day]

    facebook = "/?utm_source=facebook&utm_medium=paid_social&utm_campaign=800&utm_content=801"
    orders = [
        _order(1, facebook, [(1, "50.00")]),
        _order(2, facebook, [(1, "70.00")], status="cancelled"),
        _order(3, "/?utm_source=google&utm_medium=cpc&utm_campaign=11", [(1, "30.00")]),
        _order(4, "/", [(1, "5.00")]),
    ]
    truth = summarize(
        orders, [], campaigns, meta_performance=meta_rows, meta_campaigns=meta, fx_rate=fx
    )
    assert truth.meta_spend_by_campaign == {"900": Decimal("20.00"), "800": Decimal("110.05")}
    # 100.00 × 1.0850 = 108.50; 10.05 × 1.0833 = 10.887165 → 10.89
    assert truth.meta_spend_reporting_by_campaign == {
        "900": Decimal("20.00"),
        "800": Decimal("119.39"),
    }
    assert truth.meta_spend_reporting == Decimal("139.39")
    assert (truth.meta_impressions, truth.meta_clicks) == (1580, 43)
    assert truth.meta_attributed_revenue_by_campaign == {"900": 0, "800": Decimal("50.00")}
    assert truth.meta_attributed_orders_by_campaign == {"900": 0, "800": 1}
    assert truth.attributed_revenue_by_campaign == {"11": Decimal("30.00")}
    assert (truth.direct_revenue, truth.direct_orders) == (Decimal("5.00"), 1)
    assert truth.spend == 0


def test_summarize_refuses_foreign_currency_without_rates():
    row = MetaCampaignDay("800", "2", "EUR", DAY, Decimal("1.00"), 1, 1, 0)
    with pytest.raises(ValueError, match="EUR"):
        summarize([], [], [], meta_performance=[row])


def test_ground_truth_meta_spend_matches_the_worlds_rows():
    world = World()
    truth = world.ground_truth(WEEK)
    rows = [r for day in WEEK for r in world.meta_campaign_performance(day)]
    assert sum(truth.meta_spend_by_campaign.values()) == sum(r.spend for r in rows)
    eur = [r for r in rows if r.currency == "EUR"]
    usd = [r for r in rows if r.currency == "USD"]
    converted = sum(
        (r.spend * world.fx_rate(r.day, "EUR")).quantize(Decimal("0.01"), "ROUND_HALF_UP")
        for r in eur
    )
    assert truth.meta_spend_reporting == sum(r.spend for r in usd) + converted


def test_orders_change_after_their_day_and_as_of_shows_the_state_then():
    world = World()
    orders = [o for n in range(14) for o in world.orders_on(DAY + timedelta(days=n))]
    changed_later = [o for o in orders if o.updated_at.date() > o.created_at.date()]
    # Deliveries and refunds come days later; shipping and cancelling on the order's day.
    assert {o.status for o in changed_later} == {"delivered", "refunded"}
    assert all(o.first_change_at.date() == o.created_at.date() for o in changed_later)
    refunded = next(o for o in orders if o.status == "refunded")
    (placed, _), (shipped, _), (delivered, _), (refund, _) = refunded.history
    assert [s for _, s in refunded.history] == ["placed", "shipped", "delivered", "refunded"]
    assert 1 <= (delivered.date() - shipped.date()).days <= 3
    assert 3 <= (refund.date() - delivered.date()).days <= 10
    # The shop's database at the end of each day: the last change by then.
    assert refunded.as_of(end_of_day(placed.date())).status == "shipped"
    assert refunded.as_of(end_of_day(placed.date())).updated_at == shipped
    assert refunded.as_of(end_of_day(delivered.date())).status == "delivered"
    assert refunded.as_of(end_of_day(refund.date())) == refunded
