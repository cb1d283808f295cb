"""sessionize_web_events on hand-made GA4 events; expected sessions worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from spark_jobs.sessionize_web_events import EVENTS_SCHEMA, transform_sessions

DS = "2026-10-30"
SITE = "https://shop.example.com"
GOOGLE = f"{SITE}/products/FW-1?utm_source=google&utm_medium=cpc&utm_campaign=21000001"


def micros(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000


def event(at, name, visitor="v1", url=f"{SITE}/", ds=DS, user_id=None, tx=None, device="mobile"):
    params = [("page_location", (url, None, None)), ("ga_session_number", (None, 1, None))]
    return (micros(at), name, visitor, user_id, params, (device,), (tx,), ds)


def sessions(spark, *events) -> dict[str, dict]:
    frame = spark.createDataFrame(list(events), EVENTS_SCHEMA + ", ds STRING")
    return {row["session_id"]: row.asDict() for row in transform_sessions(frame, DS).collect()}


def test_a_gap_of_exactly_30_minutes_starts_a_new_session_and_29_59_does_not(spark):
    found = sessions(
        spark,
        event("2026-10-30 10:00:00", "page_view"),
        event("2026-10-30 10:29:59", "view_item"),  # 29:59 later: same visit
        event("2026-10-30 10:59:59", "page_view"),  # exactly 30:00 later: a new one
    )
    first, second = f"v1:{micros('2026-10-30 10:00:00')}", f"v1:{micros('2026-10-30 10:59:59')}"
    assert sorted(found) == sorted([first, second])
    assert (found[first]["events"], found[first]["duration_seconds"]) == (2, 1799)
    assert (found[second]["events"], found[second]["duration_seconds"]) == (1, 0)


def test_a_session_crossing_midnight_keeps_its_start_and_traffic_from_the_day_before(spark):
    found = sessions(
        spark,
        event("2026-10-29 18:00:00", "page_view", ds="2026-10-29"),  # over before midnight
        event("2026-10-29 23:50:00", "page_view", url=GOOGLE, ds="2026-10-29"),
        event("2026-10-29 23:55:00", "add_to_cart", ds="2026-10-29"),
        event("2026-10-30 00:10:00", "purchase", tx="2026103000001", user_id="7"),
    )
    assert list(found) == [f"v1:{micros('2026-10-29 23:50:00')}"]  # 18:00 ended on ds−1
    session = next(iter(found.values()))
    assert session["session_start"] == datetime(2026, 10, 29, 23, 50)
    assert session["session_end"] == datetime(2026, 10, 30, 0, 10)
    assert session["session_date"] == date(2026, 10, 29)
    assert (session["events"], session["events_on_ds"], session["page_views"]) == (3, 1, 1)
    assert session["landing_page"] == "/products/FW-1"
    assert (session["utm_source"], session["utm_medium"], session["utm_campaign"]) == (
        "google",
        "cpc",
        "21000001",
    )
    assert (session["channel"], session["campaign_id"]) == ("google_ads", "21000001")
    assert session["user_id"] == "7"
    assert (session["has_add_to_cart"], session["has_begin_checkout"]) == (True, False)
    assert session["has_purchase"] is True
    assert session["transaction_ids"] == ["2026103000001"]


def test_equal_timestamps_are_one_session_with_a_stable_first_event(spark):
    at = "2026-10-30 09:00:00"
    rows = [
        event(at, "view_item", url=f"{SITE}/products/B", device="desktop"),
        event(
            at,
            "page_view",
            url=f"{SITE}/collections/apparel?utm_source=newsletter&utm_medium=email&utm_campaign=weekly",
        ),
    ]
    for ordered in (rows, rows[::-1]):
        found = sessions(spark, *ordered)
        assert len(found) == 1
        session = next(iter(found.values()))
        # page_view sorts before view_item at the same instant: it is the landing.
        assert (session["landing_page"], session["device"]) == ("/collections/apparel", "mobile")
        assert (session["channel"], session["campaign_id"], session["duration_seconds"]) == (
            "email",
            None,
            0,
        )


def test_visitors_are_sessionized_apart_and_channels_follow_the_utm_tags(spark):
    meta = f"{SITE}/?utm_source=facebook&utm_medium=paid_social&utm_campaign=120&utm_content=121"
    found = sessions(
        spark,
        event("2026-10-30 12:00:00", "page_view", visitor="a", url=meta),
        event(
            "2026-10-30 12:01:00",
            "page_view",
            visitor="b",
            url=f"{SITE}/?utm_source=bing&utm_medium=cpc",
        ),
        event("2026-10-30 12:02:00", "page_view", visitor="a", user_id="3"),
        event("2026-10-30 12:03:00", "purchase", visitor="a", tx="9", user_id="3"),
        event("2026-10-30 12:04:00", "purchase", visitor="a", tx="8", user_id="4"),
    )
    a, b = found[f"a:{micros('2026-10-30 12:00:00')}"], found[f"b:{micros('2026-10-30 12:01:00')}"]
    assert (a["channel"], a["campaign_id"], a["events"], a["page_views"]) == (
        "meta_ads",
        "120",
        4,
        2,
    )
    assert a["user_id"] == "3"  # the first signed-in id
    assert a["transaction_ids"] == ["8", "9"]
    assert (b["channel"], b["campaign_id"], b["has_purchase"]) == ("other", None, False)


@pytest.mark.parametrize("day_events", [1, 3])
def test_every_event_of_ds_is_in_exactly_one_session(spark, day_events):
    events = [
        event(f"2026-10-30 0{n}:00:00", "page_view", visitor=f"v{n % 2}") for n in range(day_events)
    ]
    found = sessions(spark, *events, event("2026-10-29 10:00:00", "page_view", ds="2026-10-29"))
    assert sum(s["events_on_ds"] for s in found.values()) == day_events


def test_duration_is_exact_to_the_microsecond(spark):
    start = event("2026-10-30 08:00:00", "page_view")
    later = (start[0] + 10_500_001, "view_item", *start[2:])
    (session,) = sessions(spark, start, later).values()
    assert session["duration_seconds"] == 10.500001


def test_an_email_medium_is_email_and_a_tag_without_a_source_is_direct(spark):
    found = sessions(
        spark,
        event("2026-10-30 12:00:00", "page_view", visitor="a", url=f"{SITE}/?utm_medium=email"),
        event("2026-10-30 12:00:00", "page_view", visitor="b", url=f"{SITE}/?utm_campaign=x"),
    )
    assert sorted(s["channel"] for s in found.values()) == ["direct", "email"]
