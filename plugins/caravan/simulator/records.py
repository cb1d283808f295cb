"""The records the World's systems share with it, and the conventions they are made by.

The shop's customers and orders, the sales/shipping/accounting apps' facts about them,
and how any system derives more from them: a day's own random stream, counts around a
mean, ids that encode their day, an order's revenue, the people's names. The World
(caravan.simulator.world) generates these records; the systems built on it (the file
drops in caravan.simulator.files, the CRM in caravan.simulator.crm) read them from here,
not from the World's module, whose ground truth builds on those systems in turn.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

REPORTING_CURRENCY = "USD"
RETURNING_LOOKBACK_DAYS = 60

FIRST_NAMES = (
    "Maria", "James", "Aisha", "Chen", "Olivia", "Liam", "Sofia", "Noah", "Emma", "Lucas",
    "Priya", "Mateo", "Hannah", "Kenji", "Grace", "Omar", "Chloe", "Daniel", "Amara", "Ethan",
)  # fmt: skip
LAST_NAMES = (
    "Garcia", "Smith", "Khan", "Wang", "Johnson", "Brown", "Rossi", "Miller", "Davis", "Silva",
    "Patel", "Lopez", "Taylor", "Tanaka", "Wilson", "Haddad", "Martin", "Moore", "Okafor", "Lee",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


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
    # The last status change, as the shop's database records it (days later for a
    # delivery or a refund).
    updated_at: datetime
    # The first change on the order's own day (shipped or cancelled): what the sales-ops
    # apps and the CRM record.
    first_change_at: datetime | None = None
    # (when, status) from `placed` to the final status, for the database's view at a time.
    history: tuple[tuple[datetime, str], ...] = ()

    def as_of(self, moment: datetime) -> Order:
        """The order as the shop's database holds it at `moment` (the last change by then)."""
        changes = [change for change in self.history if change[0] <= moment]
        if not changes:
            raise ValueError(f"order {self.order_id} was placed after {moment.isoformat()}")
        at, status = changes[-1]
        return replace(self, status=status, updated_at=at)


@dataclass(frozen=True)
class OpsFact:
    """One business fact about an order, whichever apps report it and however often."""

    kind: str  # order_placed, invoice_paid or order_shipped
    order_id: int
    occurred_at: datetime
    amount: Decimal | None  # net revenue for placed and paid; None for shipped


def order_gross_revenue(order: Order) -> Decimal:
    """Σ quantity × unit price: what the customer would pay before discounts."""
    return items_gross(order.items)


def order_net_revenue(order: Order) -> Decimal:
    """Gross revenue less the order's discount (the revenue every mart reports)."""
    return order_gross_revenue(order) - order.discount_amount


def day_id_prefix(day: date) -> int:
    """YYYYMMDD as an int: the front of every id created on `day`."""
    return day.year * 10_000 + day.month * 100 + day.day


def customer_created_day(customer_id: int) -> date:
    """The day a customer id was issued on (ids are YYYYMMDD followed by four digits)."""
    prefix = customer_id // 10_000
    return date(prefix // 10_000, prefix // 100 % 100, prefix % 100)


def items_gross(items: Iterable[OrderItem]) -> Decimal:
    return sum((item.quantity * item.unit_price for item in items), Decimal("0.00"))


def day_rng(seed: int, what: str, day: date) -> random.Random:
    """A day's own stream for one kind of record: the same in any process and any window."""
    return random.Random(f"{seed}:{what}:{day.isoformat()}")


def count_around(rng: random.Random, mean: float) -> int:
    """A day's count around `mean` (normal approximation of Poisson, never negative)."""
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))
