"""The simulated company's records, as pure functions of (seed, scale, day).

Every day is generated from its own random stream, seeded by a string
(`f"{seed}:{what}:{day}"`, stable across processes), so any day can be
backfilled on its own and always yields the same records, whatever window is
asked for. No I/O here: the servers and the shop database are views of this.

The record types and the conventions the systems share with the World are in
caravan.simulator.records: the file drops and the CRM build on those (and name the
World only as a type), so the ground truth here can build on them without a loop.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

from caravan.simulator import crm, files, text
from caravan.simulator.faults import (
    API_MALFORMATIONS,
    FILE_MALFORMATIONS,
    file_line_key,
    google_performance_key,
    malformation,
    meta_insights_key,
)
from caravan.simulator.records import (
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    REPORTING_CURRENCY,
    RETURNING_LOOKBACK_DAYS,
    Customer,
    OpsFact,
    Order,
    OrderItem,
    count_around,
    customer_created_day,
    day_id_prefix,
    day_rng,
    items_gross,
    order_gross_revenue,
    order_net_revenue,
)

CENT = Decimal("0.01")
MICROS_PER_UNIT = 1_000_000
# Ids encode the day they were created on (YYYYMMDD followed by a counter),
# which makes them unique across days without any shared state.
CUSTOMERS_PER_DAY_MAX = 9_999
ORDERS_PER_DAY_MAX = 99_999
ITEMS_PER_ORDER_MAX = 3

ORDER_STATUSES = ("placed", "shipped", "delivered", "cancelled", "refunded")
# Orders that count as sales (a cancelled or refunded one does not).
REVENUE_STATUSES = ("placed", "shipped", "delivered")
# After the order's own day, the shop's database changes a row again: delivery
# 1..3 days after it shipped, a refund 3..10 days after delivery.
DELIVERY_DAYS = (1, 3)
REFUND_DAYS = (3, 10)
REGIONS = ("US-West", "US-East", "US-Central", "CA", "UK")
REGION_WEIGHTS = (30, 30, 20, 10, 10)


# (name, channel type, daily budget in USD at scale 1, cost per click, click-through
# rate, conversion rate, share of the shop's paid-search landings)
_CAMPAIGNS = (
    ("Brand Search", "SEARCH", 60, 0.80, 0.12, 0.08, 30),
    ("Generic Search - Shoes", "SEARCH", 180, 1.80, 0.05, 0.03, 20),
    ("Performance Max - All", "PERFORMANCE_MAX", 250, 1.20, 0.02, 0.04, 25),
    ("Shopping - Bestsellers", "SHOPPING", 150, 0.90, 0.015, 0.035, 20),
    ("Remarketing Display", "DISPLAY", 40, 0.60, 0.004, 0.02, 5),
)
_FIRST_CAMPAIGN_ID = 21_000_001
# Ad group themes per campaign, in `_CAMPAIGNS` order; each campaign runs the first two or
# three of its themes. An ad group's id is 31_000_000 + 100 × (campaign index + 1) + k, so it
# never collides with a campaign id and stays the same for a theme whatever the seed.
_AD_GROUP_THEMES = (
    ("Exact", "Phrase", "Misspellings"),
    ("Running Shoes", "Trail Shoes", "Boots"),
    ("Footwear", "Apparel", "Accessories"),
    ("Footwear", "Apparel", "Accessories"),
    ("Cart Abandoners", "Past Buyers", "Site Visitors"),
)
_AD_GROUP_ID_BASE = 31_000_000

# Meta: (name, currency) per ad account; one bills in EUR, so spend needs FX to be summed.
_META_ACCOUNTS = (("Caravan Shoes US", "USD"), ("Caravan Shoes EU", "EUR"))
# (account index, name, objective, daily budget at scale 1 in the account's currency, cost per
# thousand impressions, click-through rate, share of the untagged orders' Meta landings,
# (adset audience, share of the campaign's budget) ...)
_META_CAMPAIGNS = (
    (0, "Prospecting - Broad", "OUTCOME_SALES", 120, 9.0, 0.012, 35,
     (("Lookalike 1%", 60), ("Broad 25-54", 40))),
    (0, "Retargeting - Cart Abandoners", "OUTCOME_SALES", 40, 14.0, 0.025, 20,
     (("Added to cart 7d", 70), ("Viewed product 30d", 30))),
    (0, "Advantage+ Catalog", "OUTCOME_SALES", 80, 11.0, 0.015, 25,
     (("All products", 50), ("Bestsellers", 50))),
    (1, "Prospecting - EU", "OUTCOME_SALES", 70, 7.0, 0.010, 12,
     (("Interests - Running", 55), ("Lookalike 3%", 45))),
    (1, "Retargeting - EU", "OUTCOME_TRAFFIC", 25, 12.0, 0.020, 8,
     (("Site visitors 14d", 100),)),
)  # fmt: skip
# Campaign ids end in 00; an adset's id is its campaign's plus 1, 2, ...
_FIRST_META_CAMPAIGN_ID = 120_210_000_000_000_100
# Of the orders without a Google tag, the share that landed from a Meta ad (about 20% of all).
META_SHARE_OF_UNTAGGED = 0.36
META_CREATED_AT = datetime(2020, 1, 15, 9, 0, tzinfo=UTC)

_CATALOG = (
    ("footwear", "Trail Runner", "129.00"),
    ("footwear", "Road Runner", "119.00"),
    ("footwear", "Court Classic", "89.00"),
    ("footwear", "Canvas Low", "59.00"),
    ("footwear", "Leather Boot", "179.00"),
    ("footwear", "Slip-On Loafer", "99.00"),
    ("footwear", "Hiking Boot", "159.00"),
    ("footwear", "Kids Sneaker", "49.00"),
    ("apparel", "Merino Tee", "45.00"),
    ("apparel", "Running Shorts", "39.00"),
    ("apparel", "Rain Jacket", "149.00"),
    ("apparel", "Fleece Hoodie", "79.00"),
    ("apparel", "Performance Tights", "69.00"),
    ("apparel", "Wool Socks 3-Pack", "24.00"),
    ("apparel", "Crew Sweatshirt", "64.00"),
    ("apparel", "Windbreaker", "99.00"),
    ("accessories", "Running Cap", "29.00"),
    ("accessories", "Gym Bag", "59.00"),
    ("accessories", "Water Bottle", "19.50"),
    ("accessories", "Shoe Care Kit", "24.99"),
    ("accessories", "Insoles", "34.95"),
    ("accessories", "Laces Pack", "7.99"),
    ("accessories", "Backpack", "89.00"),
    ("accessories", "Headband", "14.99"),
)
_SKU_PREFIX = {"footwear": "FW", "apparel": "AP", "accessories": "AC"}
# The catalogue predates any demo window, so every order can reference it.
CATALOG_CREATED_AT = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    status: str
    channel_type: str


@dataclass(frozen=True)
class AdGroup:
    ad_group_id: str
    campaign_id: str
    name: str
    status: str


@dataclass(frozen=True)
class CampaignDay:
    campaign_id: str
    day: date
    cost_micros: int
    impressions: int
    clicks: int
    conversions: float


@dataclass(frozen=True)
class MetaAdAccount:
    account_id: str  # digits only; the API addresses it as act_<account_id>
    name: str
    currency: str


@dataclass(frozen=True)
class MetaCampaign:
    campaign_id: str
    account_id: str
    name: str
    status: str
    objective: str
    daily_budget: Decimal  # in the account's currency


@dataclass(frozen=True)
class MetaAdset:
    adset_id: str
    campaign_id: str
    account_id: str
    name: str
    status: str
    daily_budget: Decimal


@dataclass(frozen=True)
class MetaAdsetDay:
    """What Meta reports for one adset and day; spend in the account's currency."""

    adset_id: str
    campaign_id: str
    account_id: str
    day: date
    spend: Decimal
    impressions: int
    clicks: int
    purchases: int  # the platform's claim: tagged orders plus view-through conversions


@dataclass(frozen=True)
class MetaCampaignDay:
    campaign_id: str
    account_id: str
    currency: str
    day: date
    spend: Decimal
    impressions: int
    clicks: int
    purchases: int


@dataclass(frozen=True)
class Product:
    product_id: int
    sku: str
    name: str
    category: str
    price: Decimal
    created_at: datetime = CATALOG_CREATED_AT


@dataclass(frozen=True)
class GroundTruth:
    """What the pipeline's marts must show for a set of days, computed plainly.

    `spend`, `spend_by_campaign`, `impressions`, `clicks` and `attributed_*` are Google
    Ads' (as before Meta existed); `direct_*` counts orders with no paid tag at all.
    """

    orders: int
    revenue_orders: int
    gross_revenue: Decimal
    discount_amount: Decimal
    net_revenue: Decimal
    net_revenue_by_day: dict[date, Decimal]
    spend: Decimal
    spend_by_campaign: dict[str, Decimal]
    impressions: int
    clicks: int
    attributed_revenue_by_campaign: dict[str, Decimal]
    attributed_orders_by_campaign: dict[str, int]
    direct_revenue: Decimal
    direct_orders: int
    new_customers: int
    units: int
    orders_by_day: dict[date, int]
    # Meta, per campaign: spend in the account's currency and in the reporting currency
    # (each campaign-day converted at that day's rate, rounded half up to cents, then summed).
    meta_spend_by_campaign: dict[str, Decimal] = field(default_factory=dict)
    meta_spend_reporting_by_campaign: dict[str, Decimal] = field(default_factory=dict)
    meta_impressions: int = 0
    meta_clicks: int = 0
    meta_attributed_revenue_by_campaign: dict[str, Decimal] = field(default_factory=dict)
    meta_attributed_orders_by_campaign: dict[str, int] = field(default_factory=dict)
    # "source/entity" -> {record key: how it is malformed}, for the malformed_rate asked for.
    malformed_records: dict[str, dict[str, str]] = field(default_factory=dict)
    # The sales/shipping/accounting apps' messages about the days' orders, de-duplicated.
    sales_ops_facts: tuple[OpsFact, ...] = ()
    # The reviews written on the days, and the tracker's issues (opened on the days, as of
    # the end of the last), each with its labels: what enrichment is measured against.
    reviews: tuple[text.Review, ...] = ()
    issues: tuple[text.Issue, ...] = ()

    @property
    def meta_spend_reporting(self) -> Decimal:
        return sum(self.meta_spend_reporting_by_campaign.values(), Decimal("0.00"))


def google_cpc_campaign(landing_site: str) -> str | None:
    """The campaign id a landing URL credits under last touch, if it is Google paid search."""
    params = parse_qs(urlsplit(landing_site).query)
    source = params.get("utm_source", [""])[0]
    medium = params.get("utm_medium", [""])[0]
    campaign = params.get("utm_campaign", [""])[0]
    if source == "google" and medium == "cpc" and campaign:
        return campaign
    return None


def meta_campaign(landing_site: str) -> str | None:
    """The Meta campaign id a landing URL credits under last touch, if it is a Meta paid ad."""
    params = parse_qs(urlsplit(landing_site).query)
    source = params.get("utm_source", [""])[0]
    medium = params.get("utm_medium", [""])[0]
    campaign = params.get("utm_campaign", [""])[0]
    if source == "facebook" and medium == "paid_social" and campaign:
        return campaign
    return None


def usd_only(day: date, currency: str) -> Decimal:
    """The FX rate when every amount is already in the reporting currency."""
    if currency != REPORTING_CURRENCY:
        raise ValueError(f"no FX rate given for {currency} on {day}")
    return Decimal(1)


def to_reporting_currency(amount: Decimal, rate: Decimal) -> Decimal:
    """One row's amount in the reporting currency, rounded half up to cents (the contract)."""
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def summarize(
    orders: Iterable[Order],
    performance: Iterable[CampaignDay],
    campaigns: Iterable[Campaign],
    *,
    meta_performance: Iterable[MetaCampaignDay] = (),
    meta_campaigns: Iterable[MetaCampaign] = (),
    fx_rate: Callable[[date, str], Decimal] = usd_only,
) -> GroundTruth:
    """The marts' expected totals from raw records (pure; testable with hand-built records)."""
    campaign_ids = [campaign.campaign_id for campaign in campaigns]
    zero = Decimal("0.00")
    meta_ids = [campaign.campaign_id for campaign in meta_campaigns]
    meta_spend = dict.fromkeys(meta_ids, zero)
    meta_reporting = dict.fromkeys(meta_ids, zero)
    meta_attributed = dict.fromkeys(meta_ids, zero)
    meta_orders = dict.fromkeys(meta_ids, 0)
    meta_impressions = meta_clicks = 0
    for meta_row in meta_performance:
        key = meta_row.campaign_id
        meta_spend[key] = meta_spend.get(key, zero) + meta_row.spend
        rate = fx_rate(meta_row.day, meta_row.currency)
        reporting = to_reporting_currency(meta_row.spend, rate)
        meta_reporting[key] = meta_reporting.get(key, zero) + reporting
        meta_impressions += meta_row.impressions
        meta_clicks += meta_row.clicks
    spend_by_campaign = dict.fromkeys(campaign_ids, zero)
    attributed = dict.fromkeys(campaign_ids, zero)
    attributed_orders = dict.fromkeys(campaign_ids, 0)
    impressions = clicks = 0
    for row in performance:
        spend = (Decimal(row.cost_micros) / MICROS_PER_UNIT).quantize(CENT)
        spend_by_campaign[row.campaign_id] = spend_by_campaign.get(row.campaign_id, zero) + spend
        impressions += row.impressions
        clicks += row.clicks

    count = revenue_orders = new_customers = units = direct_orders = 0
    gross = discount = direct = zero
    net_by_day: dict[date, Decimal] = {}
    orders_by_day: dict[date, int] = {}
    for order in orders:
        count += 1
        day = order.created_at.astimezone(UTC).date()
        orders_by_day[day] = orders_by_day.get(day, 0) + 1
        if order.status not in REVENUE_STATUSES:
            continue
        revenue_orders += 1
        net = order_net_revenue(order)
        gross += order_gross_revenue(order)
        discount += order.discount_amount
        units += sum(item.quantity for item in order.items)
        net_by_day[day] = net_by_day.get(day, zero) + net
        new_customers += int(order.is_first_order)
        campaign_id = google_cpc_campaign(order.landing_site)
        meta_id = meta_campaign(order.landing_site)
        if campaign_id is not None:
            attributed[campaign_id] = attributed.get(campaign_id, zero) + net
            attributed_orders[campaign_id] = attributed_orders.get(campaign_id, 0) + 1
        elif meta_id is not None:
            meta_attributed[meta_id] = meta_attributed.get(meta_id, zero) + net
            meta_orders[meta_id] = meta_orders.get(meta_id, 0) + 1
        else:
            direct += net
            direct_orders += 1

    return GroundTruth(
        orders=count,
        revenue_orders=revenue_orders,
        gross_revenue=gross,
        discount_amount=discount,
        net_revenue=gross - discount,
        net_revenue_by_day=net_by_day,
        spend=sum(spend_by_campaign.values(), zero),
        spend_by_campaign=spend_by_campaign,
        impressions=impressions,
        clicks=clicks,
        attributed_revenue_by_campaign=attributed,
        attributed_orders_by_campaign=attributed_orders,
        direct_revenue=direct,
        direct_orders=direct_orders,
        new_customers=new_customers,
        units=units,
        orders_by_day=orders_by_day,
        meta_spend_by_campaign=meta_spend,
        meta_spend_reporting_by_campaign=meta_reporting,
        meta_impressions=meta_impressions,
        meta_clicks=meta_clicks,
        meta_attributed_revenue_by_campaign=meta_attributed,
        meta_attributed_orders_by_campaign=meta_orders,
    )


def end_of_day(day: date) -> datetime:
    """The last microsecond of a UTC day."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) - timedelta(microseconds=1)


def order_history(
    seed: int, order_id: int, status: str, created_at: datetime, first_change_at: datetime | None
) -> tuple[tuple[datetime, str], ...]:
    """How the order's status got to `status`: shipped or cancelled on its day, delivered
    and refunded days later. Its own random stream, so the rest of the world is unchanged."""
    history = [(created_at, "placed")]
    if first_change_at is None:
        return tuple(history)
    if status == "cancelled":
        return (*history, (first_change_at, "cancelled"))
    history.append((first_change_at, "shipped"))
    if status == "shipped":
        return tuple(history)
    rng = random.Random(f"{seed}:order-history:{order_id}")
    delivered_at = _later(rng, first_change_at, DELIVERY_DAYS)
    history.append((delivered_at, "delivered"))
    if status == "refunded":
        history.append((_later(rng, delivered_at, REFUND_DAYS), "refunded"))
    return tuple(history)


def _later(rng: random.Random, moment: datetime, days: tuple[int, int]) -> datetime:
    """A moment on a day `days` (inclusive range) after `moment`'s day."""
    day = moment.astimezone(UTC).date() + timedelta(days=rng.randint(*days))
    return _at(day, rng.randint(0, 86_399))


def _at(day: date, seconds: int) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC) + timedelta(seconds=seconds)


def _seconds_into_day(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _messy_email(rng: random.Random, first: str, last: str, customer_id: int) -> str:
    """A unique address, sometimes typed with capitals or stray spaces, as real shops store."""
    email = f"{first.lower()}.{last.lower()}{customer_id}@{rng.choice(EMAIL_DOMAINS)}"
    roll = rng.random()
    if roll < 0.08:
        email = email[0].upper() + email[1:]
    elif roll < 0.12:
        email = email.upper()
    if rng.random() < 0.05:
        email = f" {email} "
    return email


def _discount(rng: random.Random, gross: Decimal) -> Decimal:
    """10% off for about one order in six, rounded to cents; otherwise none."""
    if rng.random() < 0.15:
        return (gross * Decimal("0.10")).quantize(CENT, rounding=ROUND_HALF_UP)
    return Decimal("0.00")


@lru_cache(maxsize=4096)
def _customers_created_on(seed: int, scale: float, day: date) -> tuple[Customer, ...]:
    """Cached because every order day looks back 60 days for returning customers."""
    rng = day_rng(seed, "customers", day)
    count = count_around(rng, 15 * scale)
    if count > CUSTOMERS_PER_DAY_MAX:
        raise ValueError(f"scale={scale}: {count} customers on {day} exceeds the id space")
    seconds = sorted(rng.randrange(0, 86_000) for _ in range(count))
    customers = []
    for n, second in enumerate(seconds, start=1):
        customer_id = day_id_prefix(day) * 10_000 + n
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        customers.append(
            Customer(
                customer_id=customer_id,
                email=_messy_email(rng, first, last, customer_id),
                first_name=first,
                last_name=last,
                region=rng.choices(REGIONS, REGION_WEIGHTS)[0],
                created_at=_at(day, second),
            )
        )
    return tuple(customers)


def sum_adset_days(rows: Iterable[MetaAdsetDay], currency: dict[str, str]) -> list[MetaCampaignDay]:
    """Adset rows summed per (day, campaign), ordered by day then campaign id."""
    totals: dict[tuple[date, str], MetaCampaignDay] = {}
    for row in rows:
        key = (row.day, row.campaign_id)
        seen = totals.get(key)
        totals[key] = MetaCampaignDay(
            campaign_id=row.campaign_id,
            account_id=row.account_id,
            currency=currency[row.account_id],
            day=row.day,
            spend=row.spend + (seen.spend if seen else 0),
            impressions=row.impressions + (seen.impressions if seen else 0),
            clicks=row.clicks + (seen.clicks if seen else 0),
            purchases=row.purchases + (seen.purchases if seen else 0),
        )
    return [totals[key] for key in sorted(totals, key=lambda k: (k[0], int(k[1])))]


def clear_caches() -> None:
    """Forget generated days (tests use it to show a day does not depend on what came first)."""
    _customers_created_on.cache_clear()
    _orders_on.cache_clear()
    text.clear_caches()


@dataclass(frozen=True)
class World:
    """The company: its ad account, catalogue, customers and orders for any day."""

    seed: int = 42
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"World scale must be positive, got {self.scale}")

    @property
    def google_ads_customer_id(self) -> str:
        """The ad account's 10-digit id (differs per seed, like a real account would)."""
        return str(random.Random(f"{self.seed}:google_ads_customer_id").randrange(10**9, 10**10))

    def campaigns(self) -> list[Campaign]:
        return [
            Campaign(str(_FIRST_CAMPAIGN_ID + i), name, "ENABLED", channel)
            for i, (name, channel, *_) in enumerate(_CAMPAIGNS)
        ]

    def ad_groups(self) -> list[AdGroup]:
        """Two or three ad groups per campaign, one of them paused, ordered by id.

        They come from their own stream, so adding them left every other record as it was.
        """
        rng = random.Random(f"{self.seed}:google_ad_groups")
        groups = []
        for i, (campaign, themes) in enumerate(
            zip(self.campaigns(), _AD_GROUP_THEMES, strict=True), start=1
        ):
            for k, theme in enumerate(themes[: rng.choice((2, 3))], start=1):
                groups.append(
                    AdGroup(
                        ad_group_id=str(_AD_GROUP_ID_BASE + 100 * i + k),
                        campaign_id=campaign.campaign_id,
                        name=f"{campaign.name} - {theme}",
                        status="ENABLED",
                    )
                )
        paused = rng.randrange(len(groups))
        groups[paused] = replace(groups[paused], status="PAUSED")
        return groups

    def campaign_performance(self, day: date) -> list[CampaignDay]:
        """One row per campaign: what the Ads account reports for `day`."""
        rng = day_rng(self.seed, "google_ads", day)
        rows = []
        for campaign, (_, _, budget, cpc, ctr, cvr, _) in zip(
            self.campaigns(), _CAMPAIGNS, strict=True
        ):
            cents = round(budget * self.scale * rng.uniform(0.7, 1.3) * 100)
            clicks = round(cents / 100 / cpc * rng.uniform(0.8, 1.2))
            impressions = max(clicks, round(clicks / ctr * rng.uniform(0.85, 1.15)))
            conversions = round(clicks * cvr * rng.uniform(0.7, 1.3), 2)
            rows.append(
                CampaignDay(
                    campaign_id=campaign.campaign_id,
                    day=day,
                    cost_micros=cents * 10_000,
                    impressions=impressions,
                    clicks=clicks,
                    conversions=conversions,
                )
            )
        return rows

    def products(self) -> list[Product]:
        products = []
        per_category: dict[str, int] = {}
        for i, (category, name, price) in enumerate(_CATALOG):
            per_category[category] = per_category.get(category, 0) + 1
            products.append(
                Product(
                    product_id=1001 + i,
                    sku=f"{_SKU_PREFIX[category]}-{per_category[category]:03d}",
                    name=name,
                    category=category,
                    price=Decimal(price),
                )
            )
        return products

    def customers_created_on(self, day: date) -> list[Customer]:
        return list(_customers_created_on(self.seed, self.scale, day))

    def customer(self, customer_id: int) -> Customer:
        """Look a customer up by id (the id says which day to regenerate)."""
        for customer in _customers_created_on(
            self.seed, self.scale, customer_created_day(customer_id)
        ):
            if customer.customer_id == customer_id:
                return customer
        raise KeyError(f"no customer {customer_id} in world seed={self.seed} scale={self.scale}")

    def orders_on(self, day: date) -> list[Order]:
        """The day's orders: each new customer's first order plus returning customers'."""
        return list(_orders_on(self, day))

    def _generate_orders(self, day: date) -> tuple[Order, ...]:
        rng = day_rng(self.seed, "orders", day)
        new_customers = self.customers_created_on(day)
        total = max(len(new_customers), count_around(rng, 40 * self.scale))
        if total > ORDERS_PER_DAY_MAX:
            raise ValueError(f"scale={self.scale}: {total} orders on {day} exceeds the id space")

        # (seconds into the day, customer id, is first order), ids assigned in time order.
        drafts = [
            (self._first_order_second(rng, c.created_at), c.customer_id, True)
            for c in new_customers
        ]
        for _ in range(total - len(new_customers)):
            customer_id = self._returning_customer_id(rng, day)
            if customer_id is not None:
                drafts.append((rng.randrange(0, 86_400), customer_id, False))
        drafts.sort()

        products = self.products()
        campaigns = self.campaigns()
        weights = [spec[6] for spec in _CAMPAIGNS]
        orders = [
            self._order(rng, day, n, second, customer_id, is_first, products, campaigns, weights)
            for n, (second, customer_id, is_first) in enumerate(drafts, start=1)
        ]
        return tuple(self._with_meta_touch(order) for order in orders)

    def _with_meta_touch(self, order: Order) -> Order:
        """Tag some untagged orders as Meta landings, from the order's own random stream.

        A separate stream leaves every other field (and the Google share) as it was.
        """
        if "utm_" in order.landing_site:
            return order
        rng = random.Random(f"{self.seed}:meta_touch:{order.order_id}")
        if rng.random() >= META_SHARE_OF_UNTAGGED:
            return order
        campaign = rng.choices(self.meta_campaigns(), [spec[6] for spec in _META_CAMPAIGNS])[0]
        adsets = [a for a in self.meta_adsets() if a.campaign_id == campaign.campaign_id]
        adset = rng.choices(adsets, [float(a.daily_budget) for a in adsets])[0]
        landing_site = (
            f"{order.landing_site}?utm_source=facebook&utm_medium=paid_social"
            f"&utm_campaign={campaign.campaign_id}&utm_content={adset.adset_id}"
        )
        return replace(order, landing_site=landing_site)

    def meta_ad_accounts(self) -> list[MetaAdAccount]:
        """The two Meta ad accounts (ids differ per seed, like real accounts would)."""
        return [
            MetaAdAccount(
                str(random.Random(f"{self.seed}:meta_account:{i}").randrange(10**14, 10**15)),
                name,
                currency,
            )
            for i, (name, currency) in enumerate(_META_ACCOUNTS)
        ]

    def meta_campaigns(self) -> list[MetaCampaign]:
        accounts = self.meta_ad_accounts()
        return [
            MetaCampaign(
                campaign_id=str(_FIRST_META_CAMPAIGN_ID + 100 * i),
                account_id=accounts[account].account_id,
                name=name,
                status="ACTIVE",
                objective=objective,
                daily_budget=Decimal(budget),
            )
            for i, (account, name, objective, budget, *_) in enumerate(_META_CAMPAIGNS)
        ]

    def meta_adsets(self) -> list[MetaAdset]:
        adsets = []
        for campaign, spec in zip(self.meta_campaigns(), _META_CAMPAIGNS, strict=True):
            for k, (audience, share) in enumerate(spec[7], start=1):
                adsets.append(
                    MetaAdset(
                        adset_id=str(int(campaign.campaign_id) + k),
                        campaign_id=campaign.campaign_id,
                        account_id=campaign.account_id,
                        name=f"{campaign.name} - {audience}",
                        status="ACTIVE",
                        daily_budget=(campaign.daily_budget * share / 100).quantize(CENT),
                    )
                )
        return adsets

    def meta_adset_performance(self, day: date) -> list[MetaAdsetDay]:
        """One row per adset: what Meta reports for `day`, purchases agreeing with the shop."""
        rng = day_rng(self.seed, "meta_ads", day)
        tagged = Counter(
            parse_qs(urlsplit(order.landing_site).query).get("utm_content", [""])[0]
            for order in self.orders_on(day)
            if meta_campaign(order.landing_site) is not None
        )
        specs = {
            campaign.campaign_id: spec
            for campaign, spec in zip(self.meta_campaigns(), _META_CAMPAIGNS, strict=True)
        }
        rows = []
        for adset in self.meta_adsets():
            _, _, _, _, cpm, ctr, _, _ = specs[adset.campaign_id]
            cents = round(float(adset.daily_budget) * self.scale * rng.uniform(0.7, 1.3) * 100)
            impressions = round(cents / 100 / cpm * 1000 * rng.uniform(0.85, 1.15))
            view_through = rng.choices((0, 1, 2), (70, 20, 10))[0]
            purchases = tagged[adset.adset_id] + view_through
            clicks = max(purchases, round(impressions * ctr * rng.uniform(0.8, 1.2)))
            rows.append(
                MetaAdsetDay(
                    adset_id=adset.adset_id,
                    campaign_id=adset.campaign_id,
                    account_id=adset.account_id,
                    day=day,
                    spend=(Decimal(cents) / 100).quantize(CENT),
                    impressions=max(impressions, clicks),
                    clicks=clicks,
                    purchases=purchases,
                )
            )
        return rows

    def meta_campaign_performance(self, day: date) -> list[MetaCampaignDay]:
        """The adsets' rows summed per campaign (what `level=campaign` insights report)."""
        currency = {a.account_id: a.currency for a in self.meta_ad_accounts()}
        return sum_adset_days(self.meta_adset_performance(day), currency)

    def fx_rate(self, day: date, currency: str) -> Decimal:
        """Units of the reporting currency (USD) per unit of `currency` on `day`.

        A market rate, so it depends on the day only, not on the seed.
        """
        if currency == REPORTING_CURRENCY:
            return Decimal(1)
        if currency != "EUR":
            raise ValueError(f"no FX rate for {currency!r} (only EUR and {REPORTING_CURRENCY})")
        wiggle = random.Random(f"fx:EUR:USD:{day.isoformat()}").randint(-300, 300)
        return Decimal("1.0800") + Decimal(wiggle) / 10_000

    def reviews_on(self, day: date) -> list[text.Review]:
        """The product reviews customers write on `day`, with their labels (sentiment,
        topics, language) as ground truth; the shop's database stores all but the labels."""
        return text.reviews_on(self, day)

    def issues_created_on(self, day: date) -> list[text.Issue]:
        """The issues the marketing and data team open on `day`, with every later comment
        and closing, and their labels (sentiment, topics, language, is_injection)."""
        return text.issues_created_on(self, day)

    def ground_truth(self, days: list[date], malformed_rate: float = 0.0) -> GroundTruth:
        """The expected marts for `days` (orders by their UTC day, all of each day's ad spend).

        With a `malformed_rate`, it also names the records the systems serve malformed at
        that rate; the figures stay those of the true records.
        """
        # As the shop's database holds them at the end of the last day: later deliveries
        # and refunds have not happened yet.
        as_of = end_of_day(max(days))
        orders = [order.as_of(as_of) for day in days for order in self.orders_on(day)]
        performance = [row for day in days for row in self.campaign_performance(day)]
        truth = summarize(
            orders,
            performance,
            self.campaigns(),
            meta_performance=[row for day in days for row in self.meta_campaign_performance(day)],
            meta_campaigns=self.meta_campaigns(),
            fx_rate=self.fx_rate,
        )
        # Every asked-for day appears, even one without revenue (a mart would show 0 for it).
        by_day = {day: truth.net_revenue_by_day.get(day, Decimal("0.00")) for day in days}
        malformed = self.malformed_records(days, malformed_rate) if malformed_rate else {}
        facts = tuple(fact for day in days for fact in files.sales_ops_facts(self, day))
        return replace(
            truth,
            net_revenue_by_day=by_day,
            malformed_records=malformed,
            sales_ops_facts=facts,
            reviews=tuple(review for day in days for review in self.reviews_on(day)),
            issues=tuple(text.tracker_issues(self, days)),
        )

    def malformed_records(self, days: list[date], rate: float) -> dict[str, dict[str, str]]:
        """Which records each system serves malformed at `rate`, by entity and record key."""

        def pick(
            entity: str, keys: Iterable[str], kinds: tuple[str, ...] = API_MALFORMATIONS
        ) -> dict[str, str]:
            found = {key: malformation(self.seed, rate, entity, key, kinds) for key in keys}
            return {key: kind for key, kind in found.items() if kind is not None}

        def lines(relative_path: str, count: int) -> list[str]:
            return [file_line_key(relative_path, n) for n in range(1, count + 1)]

        web = [
            key
            for day in days
            for key in lines(files.web_analytics_file_name(day), len(files.web_events(self, day)))
        ]
        ops = [
            key
            for day in days
            for app, messages in files.sales_ops_messages(self, day).items()
            for key in lines(files.sales_ops_file_name(day, app), len(messages))
        ]

        google = [
            google_performance_key(row.campaign_id, day)
            for day in days
            for row in self.campaign_performance(day)
        ]
        meta = [
            meta_insights_key(level, object_id, day)
            for day in days
            for level, object_id in [
                *(("campaign", c.campaign_id) for c in self.meta_campaigns()),
                *(("adset", a.adset_id) for a in self.meta_adsets()),
            ]
        ]
        return {
            "google_ads/campaign_performance": pick("google_ads/campaign_performance", google),
            "meta_ads/insights": pick("meta_ads/insights", meta),
            "crm/contacts": pick(
                "crm/contacts",
                (c.contact_id for day in days for c in crm.contacts_created_on(self, day)),
            ),
            "crm/deals": pick(
                "crm/deals",
                (d.deal_id for day in days for d in crm.deals_created_on(self, day)),
            ),
            "issue_tracker/issues": pick(
                "issue_tracker/issues",
                (str(i.issue_id) for day in days for i in self.issues_created_on(day)),
            ),
            "issue_tracker/comments": pick(
                "issue_tracker/comments",
                (
                    str(c.comment_id)
                    for day in days
                    for i in self.issues_created_on(day)
                    for c in i.comments
                ),
            ),
            "web_analytics/events": pick("web_analytics/events", web, FILE_MALFORMATIONS),
            "sales_ops/messages": pick("sales_ops/messages", ops, FILE_MALFORMATIONS),
        }

    @staticmethod
    def _first_order_second(rng: random.Random, signed_up_at: datetime) -> int:
        """A first order minutes after sign-up, still on the same day."""
        start = _seconds_into_day(signed_up_at)
        return start + rng.randint(30, min(1_800, 86_399 - start))

    def _returning_customer_id(self, rng: random.Random, day: date) -> int | None:
        """A customer who signed up in the 60 days before `day` (None if those days had none)."""
        for _ in range(5):
            signup_day = day - timedelta(days=rng.randint(1, RETURNING_LOOKBACK_DAYS))
            candidates = _customers_created_on(self.seed, self.scale, signup_day)
            if candidates:
                return rng.choice(candidates).customer_id
        return None

    def _order(
        self,
        rng: random.Random,
        day: date,
        n: int,
        second: int,
        customer_id: int,
        is_first: bool,
        products: list[Product],
        campaigns: list[Campaign],
        campaign_weights: list[int],
    ) -> Order:
        order_id = day_id_prefix(day) * 100_000 + n
        picked = rng.sample(products, rng.choices((1, 2, 3), (60, 30, 10))[0])
        items = tuple(
            OrderItem(
                order_item_id=order_id * 10 + k,
                order_id=order_id,
                product_id=product.product_id,
                quantity=rng.choices((1, 2, 3), (75, 20, 5))[0],
                unit_price=product.price,
            )
            for k, product in enumerate(picked, start=1)
        )
        landing_page = f"/products/{picked[0].sku}"
        if rng.random() < 0.45:
            campaign = rng.choices(campaigns, campaign_weights)[0]
            landing_site = (
                f"{landing_page}?utm_source=google&utm_medium=cpc"
                f"&utm_campaign={campaign.campaign_id}"
            )
        else:
            landing_site = rng.choice(("/", landing_page, f"/collections/{picked[0].category}"))
        status = rng.choices(ORDER_STATUSES, (10, 30, 52, 4, 4))[0]
        created_at = _at(day, second)
        first_change_at = None
        if status != "placed":
            first_change_at = _at(day, rng.randint(second, 86_399))
        history = order_history(self.seed, order_id, status, created_at, first_change_at)
        return Order(
            order_id=order_id,
            customer_id=customer_id,
            created_at=created_at,
            status=status,
            currency="USD",
            discount_amount=_discount(rng, items_gross(items)),
            landing_site=landing_site,
            is_first_order=is_first,
            items=items,
            updated_at=history[-1][0],
            first_change_at=first_change_at,
            history=history,
        )


@lru_cache(maxsize=1024)
def _orders_on(world: World, day: date) -> tuple[Order, ...]:
    """Cached because Meta, the CRM and the file drops all read the same day's orders."""
    return world._generate_orders(day)
