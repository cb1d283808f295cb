"""attribute_orders' five models on hand-made orders and sessions; weights worked out by hand."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from spark_jobs.attribute_orders import MODELS, transform_attribution

ORDERS_SCHEMA = "order_id STRING, order_date DATE, placed_at TIMESTAMP_NTZ, customer_key STRING"
SESSIONS_SCHEMA = (
    "session_id STRING, user_pseudo_id STRING, session_start TIMESTAMP_NTZ, channel STRING, "
    "utm_source STRING, utm_medium STRING, campaign_id STRING"
)
VISITORS_SCHEMA = "id_value STRING, customer_key STRING"
NOON = datetime(2026, 10, 30, 12, 0)


def at(day: int, hour: int = 12, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0)


def session(session_id, visitor, start, channel, campaign=None):
    tags = {"google_ads": ("google", "cpc"), "meta_ads": ("facebook", "paid_social")}
    source, medium = tags.get(
        channel, ("newsletter", "email") if channel == "email" else (None, None)
    )
    return (session_id, visitor, start, channel, source, medium, campaign)


def attribute(spark, orders, sessions, visitors) -> dict:
    frame = transform_attribution(
        spark.createDataFrame(orders, ORDERS_SCHEMA),
        spark.createDataFrame(sessions, SESSIONS_SCHEMA),
        spark.createDataFrame(visitors, VISITORS_SCHEMA),
    )
    found: dict = {}
    for row in frame.collect():
        found.setdefault((row["order_id"], row["attribution_model"]), {})[
            row["session_id"] or row["channel"]
        ] = row
    return found


@pytest.fixture(scope="module")
def attributed(spark):
    orders = [
        ("O1", date(2026, 10, 30), NOON, "K1"),
        ("O2", date(2026, 10, 30), NOON, "K2"),  # no marketing visit: direct
        ("O3", date(2026, 10, 30), NOON, "K3"),
        ("O0", date(2026, 10, 20), at(20), "K1"),  # placed earlier, delivered today
    ]
    sessions = [
        session("s0", "v1", at(29, month=9), "google_ads", "G"),  # 31 days before O1: outside
        session("s1", "v1", at(16), "google_ads", "G"),  # 14 days before
        session("s2", "v1b", at(23), "meta_ads", "M"),  # 7 days before, K1's other browser
        session("s3", "v1", at(29), "direct"),  # direct visits are not touchpoints
        session("s4", "v1", NOON, "email"),  # the converting visit, at the order's instant
        session("s5", "v1", at(30, 13), "google_ads", "G"),  # after the order
        session("s6", "v2", at(29), "direct"),
        session("b-tie", "v3", at(28), "meta_ads", "M"),  # equal start times: by session_id
        session("a-tie", "v3", at(28), "google_ads", "G"),
        session("s9", "v9", at(29), "google_ads", "G"),  # nobody's we know
    ]
    visitors = [("v1", "K1"), ("v1b", "K1"), ("v2", "K2"), ("v3", "K3")]
    return attribute(spark, orders, sessions, visitors)


def weights(found, order, model) -> dict:
    return {k: pytest.approx(row["weight"], abs=1e-12) for k, row in found[(order, model)].items()}


def test_the_five_models_share_the_touchpoints_in_the_lookback_window(attributed):
    assert weights(attributed, "O1", "first_touch") == {"s1": 1.0}
    assert weights(attributed, "O1", "last_touch") == {"s4": 1.0}
    assert weights(attributed, "O1", "linear") == {"s1": 1 / 3, "s2": 1 / 3, "s4": 1 / 3}
    # 2^(-14/7), 2^(-7/7), 2^0 = 1/4, 1/2, 1 of a total 7/4.
    assert weights(attributed, "O1", "time_decay") == {"s1": 1 / 7, "s2": 2 / 7, "s4": 4 / 7}
    assert weights(attributed, "O1", "position_based") == {"s1": 0.4, "s2": 0.2, "s4": 0.4}
    first = attributed[("O1", "first_touch")]["s1"]
    assert (first["channel"], first["campaign_id"], first["touchpoint"], first["touchpoints"]) == (
        "google_ads",
        "G",
        1,
        3,
    )
    assert first["touch_at"] == at(16)


def test_an_order_without_a_touchpoint_is_direct_under_every_model(attributed):
    for model in MODELS:
        (row,) = attributed[("O2", model)].values()
        assert (row["channel"], row["weight"], row["touchpoints"], row["session_id"]) == (
            "direct",
            1.0,
            0,
            None,
        )


def test_equal_timestamps_are_ordered_by_session_id(attributed):
    assert weights(attributed, "O3", "first_touch") == {"a-tie": 1.0}
    assert weights(attributed, "O3", "last_touch") == {"b-tie": 1.0}
    assert weights(attributed, "O3", "position_based") == {"a-tie": 0.5, "b-tie": 0.5}
    assert weights(attributed, "O3", "time_decay") == {"a-tie": 0.5, "b-tie": 0.5}


def test_an_older_order_is_attributed_in_its_own_window(attributed):
    # O0 was placed on 20 October: s0 (29 September, 21 days before) and s1 (the 16th,
    # 4 days before) are in its window; s2 and later came after it.
    assert weights(attributed, "O0", "first_touch") == {"s0": 1.0}
    assert weights(attributed, "O0", "last_touch") == {"s1": 1.0}
    assert weights(attributed, "O0", "linear") == {"s0": 0.5, "s1": 0.5}
    assert weights(attributed, "O0", "position_based") == {"s0": 0.5, "s1": 0.5}
    older, newer = 2 ** (-21 / 7), 2 ** (-4 / 7)
    assert weights(attributed, "O0", "time_decay") == {
        "s0": older / (older + newer),
        "s1": newer / (older + newer),
    }


def test_every_order_is_attributed_under_every_model(attributed):
    assert sorted(attributed) == sorted((o, m) for o in ("O0", "O1", "O2", "O3") for m in MODELS)
