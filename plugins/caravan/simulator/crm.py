"""The CRM's records: the shop's customers as contacts, plus leads, and a deal per order.

Pure functions of the World and a day, like the World itself. Every change to a
contact or deal happens on the day it was created, so one day's
`lastmodifieddate` window holds all of that day's records whenever it is asked.
Ids are days since 1970 followed by a counter (deals from 50001), so they never
look like the shop's ids: the pipeline has to match people by email.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from caravan.simulator.records import (
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    Customer,
    count_around,
    customer_created_day,
    day_rng,
    order_net_revenue,
)

if TYPE_CHECKING:  # the World's ground truth builds on the CRM: its type only
    from caravan.simulator.world import World

_EPOCH = date(1970, 1, 1)
_IDS_PER_DAY = 100_000
_DEAL_ID_OFFSET = 50_000
LEAD_STAGES = ("subscriber", "lead", "marketingqualifiedlead")
LEAD_STAGE_WEIGHTS = (40, 45, 15)
OPEN_DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled")
LEAD_DEAL_AMOUNTS = ("250.00", "600.00", "1200.00", "2500.00")
LEAD_DEAL_SHARE = 0.2


@dataclass(frozen=True)
class CrmContact:
    contact_id: str
    email: str
    first_name: str
    last_name: str
    lifecycle_stage: str
    created_at: datetime
    updated_at: datetime
    customer_id: int | None  # the shop customer this person is; None for a lead


@dataclass(frozen=True)
class CrmDeal:
    deal_id: str
    name: str
    amount: Decimal
    stage: str
    close_date: datetime
    created_at: datetime
    updated_at: datetime
    contact_id: str
    order_id: int | None  # the shop order it records; None for a lead's open deal


def crm_id(day: date, n: int, offset: int = 0) -> str:
    if not 1 <= n < _DEAL_ID_OFFSET:
        raise ValueError(f"CRM record {n} on {day} exceeds the id space")
    return str((day - _EPOCH).days * _IDS_PER_DAY + offset + n)


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _within(moment: datetime, day: date) -> datetime:
    """`moment`, held back to the end of `day` so a record's changes stay on its day."""
    return min(moment, _end_of(day))


def crm_email(rng: random.Random, shop_email: str) -> str:
    """The shop's address, trimmed, and for about one contact in five cased differently."""
    email = shop_email.strip()
    if rng.random() < 0.2:
        email = email.lower() if email != email.lower() else email.capitalize()
    return email


def contacts_created_on(world: World, day: date) -> list[CrmContact]:
    """The day's new contacts: every new shop customer, and leads who have not bought."""
    return list(_contacts_created_on(world, day))


def deals_created_on(world: World, day: date) -> list[CrmDeal]:
    """A deal for each of the day's orders (won, or lost if cancelled), and a few leads' deals."""
    return list(_deals_created_on(world, day))


def contact_for_customer(world: World, customer: Customer) -> CrmContact:
    for contact in _contacts_created_on(world, customer_created_day(customer.customer_id)):
        if contact.customer_id == customer.customer_id:
            return contact
    raise KeyError(f"no CRM contact for customer {customer.customer_id}")


@lru_cache(maxsize=1024)
def _contacts_created_on(world: World, day: date) -> tuple[CrmContact, ...]:
    rng = day_rng(world.seed, "crm_contacts", day)
    first_orders = {o.customer_id: o.created_at for o in world.orders_on(day) if o.is_first_order}
    # (created, updated, email or None for a lead, first, last, stage, customer id)
    drafts = []
    for customer in world.customers_created_on(day):
        created = _within(customer.created_at + timedelta(seconds=rng.randint(1, 120)), day)
        # The contact becomes a customer when the first order arrives.
        bought = first_orders[customer.customer_id] + timedelta(seconds=rng.randint(1, 60))
        drafts.append(
            (
                created,
                max(created, _within(bought, day)),
                crm_email(rng, customer.email),
                customer.first_name,
                customer.last_name,
                "customer",
                customer.customer_id,
            )
        )
    for _ in range(count_around(rng, 10 * world.scale)):
        created = datetime.combine(day, time(), tzinfo=UTC) + timedelta(
            seconds=rng.randrange(0, 86_400)
        )
        updated = _within(created + timedelta(seconds=rng.randint(0, 4 * 3600)), day)
        stage = rng.choices(LEAD_STAGES, LEAD_STAGE_WEIGHTS)[0]
        drafts.append(
            (created, updated, None, rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), stage, None)
        )
    drafts.sort(key=lambda d: (d[0], d[6] or 0, d[3], d[4]))
    contacts = []
    for n, (created, updated, email, first, last, stage, customer_id) in enumerate(drafts, 1):
        contact_id = crm_id(day, n)
        if email is None:
            domain = EMAIL_DOMAINS[n % len(EMAIL_DOMAINS)]
            email = f"{first.lower()}.{last.lower()}.{contact_id}@{domain}"
        contacts.append(
            CrmContact(contact_id, email, first, last, stage, created, updated, customer_id)
        )
    return tuple(contacts)


@lru_cache(maxsize=1024)
def _deals_created_on(world: World, day: date) -> tuple[CrmDeal, ...]:
    rng = day_rng(world.seed, "crm_deals", day)
    # (created, updated, name, amount, stage, close date, contact id, order id)
    drafts = []
    for order in world.orders_on(day):
        contact = contact_for_customer(world, world.customer(order.customer_id))
        stage = "closedlost" if order.status == "cancelled" else "closedwon"
        drafts.append(
            (
                order.created_at,
                order.first_change_at or order.created_at,  # the deal closes on the day
                f"Order {order.order_id}",
                order_net_revenue(order),
                stage,
                order.created_at,
                contact.contact_id,
                order.order_id,
            )
        )
    for lead in _contacts_created_on(world, day):
        if lead.customer_id is not None or rng.random() >= LEAD_DEAL_SHARE:
            continue
        created = _within(lead.created_at + timedelta(seconds=rng.randint(60, 3600)), day)
        updated = _within(created + timedelta(seconds=rng.randint(0, 3600)), day)
        drafts.append(
            (
                created,
                updated,
                f"{lead.first_name} {lead.last_name} - team order",
                Decimal(rng.choice(LEAD_DEAL_AMOUNTS)),
                rng.choice(OPEN_DEAL_STAGES),
                created + timedelta(days=30),
                lead.contact_id,
                None,
            )
        )
    drafts.sort(key=lambda d: (d[0], d[7] or 0, d[6]))
    return tuple(
        CrmDeal(crm_id(day, n, _DEAL_ID_OFFSET), name, amount, stage, close, created, updated,
                contact_id, order_id)
        for n, (created, updated, name, amount, stage, close, contact_id, order_id)
        in enumerate(drafts, 1)
    )  # fmt: skip


def clear_caches() -> None:
    _contacts_created_on.cache_clear()
    _deals_created_on.cache_clear()
