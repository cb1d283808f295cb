"""The CRM's records agree with the shop: same people, same orders, other ids."""

from __future__ import annotations

from datetime import date, timedelta

from caravan.simulator import crm
from caravan.simulator.world import World, order_net_revenue

DAY = date(2026, 11, 1)
DAYS = [DAY + timedelta(days=n) for n in range(3)]
WORLD = World(seed=11)


def test_every_new_customer_is_one_contact_with_the_same_email_up_to_case():
    for day in DAYS:
        contacts = crm.contacts_created_on(WORLD, day)
        customers = WORLD.customers_created_on(day)
        as_contacts = [c for c in contacts if c.customer_id is not None]
        assert sorted(c.customer_id for c in as_contacts) == sorted(
            c.customer_id for c in customers
        )
        by_id = {c.customer_id: c for c in customers}
        for contact in as_contacts:
            customer = by_id[contact.customer_id]
            assert contact.email.lower() == customer.email.strip().lower()
            assert (contact.first_name, contact.last_name) == (
                customer.first_name,
                customer.last_name,
            )
            assert contact.lifecycle_stage == "customer"
            assert contact.created_at >= customer.created_at


def test_some_emails_are_cased_differently_from_the_shop():
    pairs = [
        (contact.email, WORLD.customer(contact.customer_id).email.strip())
        for n in range(20)
        for contact in crm.contacts_created_on(WORLD, DAY + timedelta(days=n))
        if contact.customer_id is not None
    ]
    differing = sum(crm_email != shop_email for crm_email, shop_email in pairs)
    assert 0.1 <= differing / len(pairs) <= 0.35


def test_leads_are_people_who_never_bought():
    contacts = [c for day in DAYS for c in crm.contacts_created_on(WORLD, day)]
    leads = [c for c in contacts if c.customer_id is None]
    assert leads
    shop_emails = {
        customer.email.strip().lower()
        for day in range(-70, 10)
        for customer in WORLD.customers_created_on(DAY + timedelta(days=day))
    }
    assert all(lead.email.lower() not in shop_emails for lead in leads)
    assert {lead.lifecycle_stage for lead in leads} <= {
        "subscriber",
        "lead",
        "marketingqualifiedlead",
    }


def test_contact_ids_are_unique_unlike_shop_ids_and_changes_stay_on_the_day():
    contacts = [c for day in DAYS for c in crm.contacts_created_on(WORLD, day)]
    ids = [int(c.contact_id) for c in contacts]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    customer_ids = {c.customer_id for c in contacts}
    assert not customer_ids & set(ids)
    for day in DAYS:
        for contact in crm.contacts_created_on(WORLD, day):
            assert contact.created_at.date() == contact.updated_at.date() == day
            assert contact.created_at <= contact.updated_at


def test_each_order_is_one_deal_for_its_customers_contact():
    for day in DAYS:
        deals = crm.deals_created_on(WORLD, day)
        orders = {o.order_id: o for o in WORLD.orders_on(day)}
        order_deals = [d for d in deals if d.order_id is not None]
        assert sorted(d.order_id for d in order_deals) == sorted(orders)
        for deal in order_deals:
            order = orders[deal.order_id]
            assert deal.amount == order_net_revenue(order)
            assert deal.stage == ("closedlost" if order.status == "cancelled" else "closedwon")
            contact = crm.contact_for_customer(WORLD, WORLD.customer(order.customer_id))
            assert deal.contact_id == contact.contact_id
            assert deal.close_date == order.created_at
        contacts = {c.contact_id: c for c in crm.contacts_created_on(WORLD, day)}
        for deal in deals:
            if deal.order_id is None:
                assert contacts[deal.contact_id].customer_id is None
                assert deal.stage not in ("closedwon", "closedlost")
            assert deal.created_at.date() == deal.updated_at.date() == day


def test_crm_days_do_not_depend_on_what_was_generated_first():
    crm.clear_caches()
    alone = crm.deals_created_on(World(seed=4), DAY)
    crm.clear_caches()
    for n in range(-3, 3):
        crm.contacts_created_on(World(seed=4), DAY + timedelta(days=n))
    assert crm.deals_created_on(World(seed=4), DAY) == alone
