"""resolve_identities on hand-made records; keys worked out here with hashlib."""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal

from spark_jobs.resolve_identities import (
    CONTACTS_SCHEMA,
    CUSTOMERS_SCHEMA,
    EVENTS_SCHEMA,
    MESSAGES_SCHEMA,
    ORDERS_SCHEMA,
    transform_identity_map,
    transform_order_events,
)

DS = "2026-10-30"


def key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


ANN, BOB, ZED = key("ann@example.com"), key("bob@example.com"), key("zed@example.com")


def message(message_id, app, kind, order_id, sent_at, ds=DS, customer_id=None, email=None,
            amount=None, amount_paid=None):  # fmt: skip
    payload = (order_id, customer_id, email, amount, amount_paid, "USD")
    return (message_id, app, kind, "2026-10-29T10:00:00Z", sent_at, payload, ds)


def messages_frame(spark, *rows):
    return spark.createDataFrame(list(rows), MESSAGES_SCHEMA + ", ds STRING")


def test_one_key_per_normalised_email_across_shop_crm_apps_and_site(spark):
    customers = spark.createDataFrame(
        [(1, " Ann@Example.com "), (2, "bob@example.com")], CUSTOMERS_SCHEMA
    )
    orders = spark.createDataFrame([(100, 2)], ORDERS_SCHEMA)
    contacts = spark.createDataFrame(
        [("c1", ("ANN@example.com",)), ("c2", ("lead@example.com",))], CONTACTS_SCHEMA
    )
    events = spark.createDataFrame(
        [
            (10, "v1", "1", (None,)),  # signed in as customer 1
            (20, "v2", None, ("100",)),  # bought order 100, placed by customer 2
            (30, "v3", None, (None,)),  # never linked
            (40, "v4", "9", (None,)),  # customer 9: known only from the sales app
            (50, "v5", "1", (None,)),  # two customers on one browser: the earliest wins
            (5, "v5", "2", (None,)),
        ],
        EVENTS_SCHEMA,
    )
    placed = messages_frame(
        spark,
        message(
            "m1",
            "sales",
            "order_placed",
            101,
            "2026-10-30T10:00:00Z",
            customer_id=9,
            email="Zed@Example.com",
            amount="10.00",
        ),  # fmt: skip
    )
    rows = transform_identity_map(customers, orders, contacts, events, placed.drop("ds")).collect()
    found = {
        (r["id_type"], r["id_value"]): (r["customer_key"], r["email"], r["linked_via"])
        for r in rows
    }
    assert found == {
        ("shop_customer", "1"): (ANN, "ann@example.com", "email"),
        ("shop_customer", "2"): (BOB, "bob@example.com", "email"),
        ("shop_customer", "9"): (ZED, "zed@example.com", "email"),
        ("crm_contact", "c1"): (ANN, "ann@example.com", "email"),
        ("crm_contact", "c2"): (key("lead@example.com"), "lead@example.com", "email"),
        ("web_visitor", "v1"): (ANN, "ann@example.com", "user_id"),
        ("web_visitor", "v2"): (BOB, "bob@example.com", "transaction_id"),
        ("web_visitor", "v3"): (key("web_visitor:v3"), None, "none"),
        ("web_visitor", "v4"): (ZED, "zed@example.com", "user_id"),
        ("web_visitor", "v5"): (BOB, "bob@example.com", "user_id"),
    }
    assert len(rows) == len(found)


def test_a_visitor_signed_in_as_an_unknown_customer_takes_that_customers_own_key(spark):
    empty_customers = spark.createDataFrame([], CUSTOMERS_SCHEMA)
    events = spark.createDataFrame([(10, "v1", "42", (None,))], EVENTS_SCHEMA)
    rows = transform_identity_map(
        empty_customers,
        spark.createDataFrame([], ORDERS_SCHEMA),
        spark.createDataFrame([], CONTACTS_SCHEMA),
        events,
        messages_frame(spark).drop("ds"),
    ).collect()
    assert [(r["customer_key"], r["linked_via"]) for r in rows] == [
        (key("shop_customer:42"), "user_id")
    ]


def test_messages_boil_down_to_one_row_per_fact_on_the_day_it_was_first_reported(spark):
    frame = messages_frame(
        spark,
        # Order 100 was placed yesterday; today's late copy must not make it new again.
        message("m1", "sales", "order_placed", 100, "2026-10-29T10:00:05Z", ds="2026-10-29",
                amount="50.00"),
        message("m1", "sales", "order_placed", 100, "2026-10-30T01:00:00Z", amount="50.00"),
        # Invoice of 100 from accounting and, echoed, from sales: one fact.
        message("m2", "accounting", "invoice_paid", 100, "2026-10-30T10:01:00Z",
                amount_paid="50.00"),
        message("m3", "sales", "invoice_paid", 100, "2026-10-30T10:00:30Z", amount_paid="50.00"),
        # Order 101 placed, redelivered (the same message twice), and shipped.
        message("m4", "sales", "order_placed", 101, "2026-10-30T11:00:00Z", amount="19.99"),
        message("m4", "sales", "order_placed", 101, "2026-10-30T11:05:00Z", amount="19.99"),
        message("m5", "shipping", "order_shipped", 101, "2026-10-30T15:00:00Z"),
    )  # fmt: skip
    rows = {
        (r["order_id"], r["event_type"]): r.asDict()
        for r in transform_order_events(frame, DS).collect()
    }
    assert sorted(rows) == [
        ("100", "invoice_paid"),
        ("101", "order_placed"),
        ("101", "order_shipped"),
    ]
    invoice = rows[("100", "invoice_paid")]
    assert (invoice["messages"], invoice["apps"], invoice["amount"]) == (
        2,
        ["accounting", "sales"],
        Decimal("50.00"),
    )
    assert (invoice["first_message_id"], invoice["first_app"]) == ("m3", "sales")
    assert invoice["first_sent_at"] == datetime(2026, 10, 30, 10, 0, 30)
    placed = rows[("101", "order_placed")]
    assert (placed["messages"], placed["apps"], placed["amount"]) == (
        2,
        ["sales"],
        Decimal("19.99"),
    )
    assert placed["occurred_at"] == datetime(2026, 10, 29, 10, 0)
    shipped = rows[("101", "order_shipped")]
    assert (shipped["messages"], shipped["amount"], shipped["first_app"]) == (1, None, "shipping")


def test_at_the_same_instant_signing_in_links_before_buying(spark):
    customers = spark.createDataFrame(
        [(1, "ann@example.com"), (2, "bob@example.com")], CUSTOMERS_SCHEMA
    )
    orders = spark.createDataFrame([(100, 2)], ORDERS_SCHEMA)  # bob's order, on ann's browser
    events = spark.createDataFrame([(10, "v1", "1", ("100",))], EVENTS_SCHEMA)
    rows = transform_identity_map(
        customers, orders, spark.createDataFrame([], CONTACTS_SCHEMA), events,
        messages_frame(spark).drop("ds"),
    ).where("id_type = 'web_visitor'").collect()  # fmt: skip
    assert [(r["customer_key"], r["linked_via"]) for r in rows] == [(ANN, "user_id")]
