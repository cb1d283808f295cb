"""The simulated company's records, as pure functions of (seed, scale, day).

Every day is generated from its own random stream, seeded by a string
(`f"{seed}:{what}:{day}"`, stable across processes), so any day can be
backfilled on its own and always yields the same records, whatever window is
asked for. No I/O here: the servers and the shop database are views of this.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

CENT = Decimal("0.01")
MICROS_PER_UNIT = 1_000_000
RETURNING_LOOKBACK_DAYS = 60
# Ids encode the day they were created on (YYYYMMDD followed by a counter),
# which makes them unique across days without any shared state.
CUSTOMERS_PER_DAY_MAX = 9_999
ORDERS_PER_DAY_MAX = 99_999
ITEMS_PER_ORDER_MAX = 3

ORDER_STATUSES = ("placed", "shipped", "delivered", "cancelled")
REGIONS = ("US-West", "US-East", "US-Central", "CA", "UK")
REGION_WEIGHTS = (30, 30, 20, 10, 10)

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Chen", "Olivia", "Liam", "Sofia", "Noah", "Emma", "Lucas",
    "Priya", "Mateo", "Hannah", "Kenji", "Grace", "Omar", "Chloe", "Daniel", "Amara", "Ethan",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Smith", "Khan", "Wang", "Johnson", "Brown", "Rossi", "Miller", "Davis", "Silva",
    "Patel", "Lopez", "Taylor", "Tanaka", "Wilson", "Haddad", "Martin", "Moore", "Okafor", "Lee",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")

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
class CampaignDay:
    campaign_id: str
    day: date
    cost_micros: int
    impressions: int
    clicks: int
    conversions: float


@dataclass(frozen=True)
class Product:
    product_id: int
    sku: str
    name: str
    category: str
    price: Decimal
    created_at: datetime = CATALOG_CREATED_AT


@dataclass(frozen=True)
class Customer:
    customer_id: int
    email: str
    first_name: str
    last_name: str
    region: str
    created_at: datetime


@dataclass(frozen=True)
class OrderItem:
    order_item_id: int
    order_id: int
    product_id: int
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class Order:
    order_id: int
    customer_id: int
    created_at: datetime
    status: str
    currency: str
    discount_amount: Decimal
    landing_site: str
    is_first_order: bool
    items: tuple[OrderItem, ...]
    # The last status change; kept on the order's own day so a day's extract is complete.
    updated_at: datetime


@dataclass(frozen=True)
class GroundTruth:
    """What the pipeline's marts must show for a set of days, computed plainly."""

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


def order_gross_revenue(order: Order) -> Decimal:
    """Σ quantity × unit price: what the customer would pay before discounts."""
    return _items_gross(order.items)


def order_net_revenue(order: Order) -> Decimal:
    """Gross revenue less the order's discount (the revenue every mart reports)."""
    return order_gross_revenue(order) - order.discount_amount


def google_cpc_campaign(landing_site: str) -> str | None:
    """The campaign id a landing URL credits under last touch, if it is Google paid search."""
    params = parse_qs(urlsplit(landing_site).query)
    source = params.get("utm_source", [""])[0]
    medium = params.get("utm_medium", [""])[0]
    campaign = params.get("utm_campaign", [""])[0]
    if source == "google" and medium == "cpc" and campaign:
        return campaign
    return None


def summarize(
    orders: Iterable[Order], performance: Iterable[CampaignDay], campaigns: Iterable[Campaign]
) -> GroundTruth:
    """The marts' expected totals from raw records (pure; testable with hand-built records)."""
    campaign_ids = [campaign.campaign_id for campaign in campaigns]
    zero = Decimal("0.00")
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
        if order.status == "cancelled":
            continue
        revenue_orders += 1
        net = order_net_revenue(order)
        gross += order_gross_revenue(order)
        discount += order.discount_amount
        units += sum(item.quantity for item in order.items)
        net_by_day[day] = net_by_day.get(day, zero) + net
        new_customers += int(order.is_first_order)
        campaign_id = google_cpc_campaign(order.landing_site)
        if campaign_id is None:
            direct += net
            direct_orders += 1
        else:
            attributed[campaign_id] = attributed.get(campaign_id, zero) + net
            attributed_orders[campaign_id] = attributed_orders.get(campaign_id, 0) + 1

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
    )


def day_id_prefix(day: date) -> int:
    """YYYYMMDD as an int: the front of every id created on `day`."""
    return day.year * 10_000 + day.month * 100 + day.day


def customer_created_day(customer_id: int) -> date:
    """The day a customer id was issued on (ids are YYYYMMDD followed by four digits)."""
    prefix = customer_id // 10_000
    return date(prefix // 10_000, prefix // 100 % 100, prefix % 100)


def _items_gross(items: Iterable[OrderItem]) -> Decimal:
    return sum((item.quantity * item.unit_price for item in items), Decimal("0.00"))


def _rng(seed: int, what: str, day: date) -> random.Random:
    return random.Random(f"{seed}:{what}:{day.isoformat()}")


def _count(rng: random.Random, mean: float) -> int:
    """A day's count around `mean` (normal approximation of Poisson, never negative)."""
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


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
    rng = _rng(seed, "customers", day)
    count = _count(rng, 15 * scale)
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

    def campaign_performance(self, day: date) -> list[CampaignDay]:
        """One row per campaign: what the Ads account reports for `day`."""
        rng = _rng(self.seed, "google_ads", day)
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
        rng = _rng(self.seed, "orders", day)
        new_customers = self.customers_created_on(day)
        total = max(len(new_customers), _count(rng, 40 * self.scale))
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
        return [
            self._order(rng, day, n, second, customer_id, is_first, products, campaigns, weights)
            for n, (second, customer_id, is_first) in enumerate(drafts, start=1)
        ]

    def ground_truth(self, days: list[date]) -> GroundTruth:
        """The expected marts for `days` (orders by their UTC day, all of each day's ad spend)."""
        orders = [order for day in days for order in self.orders_on(day)]
        performance = [row for day in days for row in self.campaign_performance(day)]
        truth = summarize(orders, performance, self.campaigns())
        # Every asked-for day appears, even one without revenue (a mart would show 0 for it).
        by_day = {day: truth.net_revenue_by_day.get(day, Decimal("0.00")) for day in days}
        return replace(truth, net_revenue_by_day=by_day)

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
        status = rng.choices(ORDER_STATUSES, (10, 30, 56, 4))[0]
        created_at = _at(day, second)
        updated_at = created_at
        if status != "placed":
            updated_at = _at(day, rng.randint(second, 86_399))
        return Order(
            order_id=order_id,
            customer_id=customer_id,
            created_at=created_at,
            status=status,
            currency="USD",
            discount_amount=_discount(rng, _items_gross(items)),
            landing_site=landing_site,
            is_first_order=is_first,
            items=items,
            updated_at=updated_at,
        )
