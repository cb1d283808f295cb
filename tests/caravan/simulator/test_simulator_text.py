"""The simulator's text: reviews in the shop database and the team's issue tracker.

Expectations are the shared vocabulary (issue 17) and facts read from the World's other
records (orders, their delivery, products, campaigns), never the phrase banks.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from caravan.simulator.shop_db import write_shop_db
from caravan.simulator.text import tracker_issues
from caravan.simulator.world import World, clear_caches

WORLD = World(seed=42, scale=1.0)
DEMO_WEEK = [date(2026, 11, 1) + timedelta(days=n) for n in range(7)]
MONTH = [date(2026, 10, 1) + timedelta(days=n) for n in range(31)]
# The shared vocabulary of issue 17.
SENTIMENT_OF_RATING = {
    1: "negative",
    2: "negative",
    3: "neutral",
    4: "positive",
    5: "positive",
}
REVIEW_TOPICS = {"quality", "sizing", "shipping", "price", "customer_service"}
ISSUE_TOPICS = {"campaigns", "tracking", "data_quality", "attribution", "reporting"}
LABEL_OF_TOPIC = {
    "campaigns": "campaign",
    "tracking": "tracking",
    "data_quality": "data-quality",
    "attribution": "attribution",
    "reporting": "reporting",
}
LANGUAGES = {"en", "de", "fr", "es"}
# What a planted instruction asks for, whatever its wording; no honest text says these.
HOSTILE = ("DROP TABLE", "ATTACH '", "DELETE FROM", "COPY ", "PRAGMA", "OPENAI_API_KEY",
           "UPDATE analytics", "read_csv(")  # fmt: skip


def order_day(order_id: int) -> date:
    prefix = order_id // 100_000
    return date(prefix // 10_000, prefix // 100 % 100, prefix % 100)


def month_reviews():
    return [review for day in MONTH for review in WORLD.reviews_on(day)]


def test_each_review_is_about_a_delivered_order_of_its_customer_and_one_of_its_products():
    for day in DEMO_WEEK:
        reviews = WORLD.reviews_on(day)
        assert reviews, f"no review on {day}"
        for review in reviews:
            (order,) = [o for o in WORLD.orders_on(order_day(review.order_id))
                        if o.order_id == review.order_id]  # fmt: skip
            delivered = [at for at, status in order.history if status == "delivered"]
            assert delivered, f"review {review.review_id}: order {order.order_id} never delivered"
            assert delivered[0].date() + timedelta(days=1) <= review.created_at.date()
            assert review.created_at.date() <= delivered[0].date() + timedelta(days=7)
            assert review.product_id in {item.product_id for item in order.items}
            assert review.customer_id == order.customer_id
            assert review.created_at.date() == day == review.updated_at.date()
            assert review.created_at <= review.updated_at
            assert str(review.review_id).startswith(day.strftime("%Y%m%d"))


def test_review_ids_are_unique_and_follow_the_order_they_were_written_in():
    for day in DEMO_WEEK:
        reviews = WORLD.reviews_on(day)
        ids = [r.review_id for r in reviews]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert [r.created_at for r in reviews] == sorted(r.created_at for r in reviews)


def test_sentiment_follows_the_rating_band_and_labels_use_the_shared_vocabulary():
    reviews = month_reviews()
    for review in reviews:
        assert review.sentiment == SENTIMENT_OF_RATING[review.rating]
        assert 1 <= len(review.topics) <= 2 and set(review.topics) <= REVIEW_TOPICS
        assert len(set(review.topics)) == len(review.topics)
        assert review.language in LANGUAGES
        assert review.title and review.body
    assert {r.rating for r in reviews} == {1, 2, 3, 4, 5}


def test_about_three_in_ten_delivered_orders_get_a_review_and_a_tenth_are_not_english():
    reviews = month_reviews()
    assert 5 <= len(reviews) / len(MONTH) <= 15
    # The orders of October's first ten days are delivered by the 13th and reviewed by
    # the 20th: every review of them is among October's.
    ordered_on = MONTH[:10]
    delivered = [
        order
        for day in ordered_on
        for order in WORLD.orders_on(day)
        if any(status == "delivered" for _, status in order.history)
    ]
    reviewed = {r.order_id for r in reviews if order_day(r.order_id) in ordered_on}
    assert reviewed <= {order.order_id for order in delivered}
    assert 0.22 <= len(reviewed) / len(delivered) <= 0.38
    languages = Counter(r.language for r in reviews)
    assert 0.04 <= 1 - languages["en"] / len(reviews) <= 0.18
    assert {"de", "fr", "es"} <= set(languages)
    # One review per order at most.
    assert len({r.order_id for r in reviews}) == len(reviews)


def test_the_text_is_varied_and_some_reviews_are_mixed():
    reviews = month_reviews()
    english = [r for r in reviews if r.language == "en"]
    assert len({r.body for r in english}) > len(english) * 0.6
    # A 4-star review that also complains, a 2-star one that also praises: two sentences.
    mixed = [r for r in english if r.rating in (2, 4) and len(r.topics) == 2
             and re.search(r"\b(But|However|That said)\b", r.body)]  # fmt: skip
    assert mixed


def test_reviews_are_deterministic_and_do_not_depend_on_what_was_generated_first():
    day = DEMO_WEEK[3]
    first = WORLD.reviews_on(day)
    clear_caches()
    assert World(seed=42, scale=1.0).reviews_on(day) == first
    assert World(seed=7, scale=1.0).reviews_on(day) != first


def test_the_shop_database_stores_the_days_reviews_without_their_labels(tmp_path):
    path = tmp_path / "shop.db"
    days = DEMO_WEEK[:3]
    write_shop_db(f"sqlite:///{path}", WORLD, days)
    write_shop_db(f"sqlite:///{path}", WORLD, days)  # rewriting changes nothing
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("pragma table_info(reviews)")]
        rows = connection.execute(
            "select review_id, order_id, product_id, customer_id, rating, title, body,"
            " created_at, updated_at from reviews order by review_id"
        ).fetchall()
    assert columns == [
        "review_id", "order_id", "product_id", "customer_id", "rating", "title", "body",
        "created_at", "updated_at",
    ]  # fmt: skip
    expected = [
        (r.review_id, r.order_id, r.product_id, r.customer_id, r.rating, r.title, r.body,
         r.created_at.replace(tzinfo=None).isoformat(sep=" "),
         r.updated_at.replace(tzinfo=None).isoformat(sep=" "))
        for day in days
        for r in WORLD.reviews_on(day)
    ]  # fmt: skip
    assert [(*row[:7], row[7][:19], row[8][:19]) for row in rows] == expected


def month_issues():
    return [issue for day in MONTH for issue in WORLD.issues_created_on(day)]


def test_issues_and_comments_come_a_few_a_day_with_labels_matching_their_topics():
    issues = month_issues()
    assert 2 <= len(issues) / len(MONTH) <= 4
    comments = [c for issue in issues for c in issue.comments]
    assert 4 <= len(comments) / len(MONTH) <= 8
    for issue in issues:
        assert 1 <= len(issue.topics) <= 2 and set(issue.topics) <= ISSUE_TOPICS
        assert issue.sentiment in {"positive", "neutral", "negative"}
        assert issue.language in LANGUAGES
        topic_labels = {LABEL_OF_TOPIC[t] for t in issue.topics}
        assert topic_labels <= set(issue.labels)
        assert set(issue.labels) - topic_labels <= {"bug", "question"}
        assert ("bug" in issue.labels) == (issue.sentiment == "negative")
        assert ("question" in issue.labels) == (issue.sentiment == "neutral")
        for comment in issue.comments:
            assert comment.issue_number == issue.number
            assert comment.created_at > issue.created_at
        if issue.closed_at is not None:
            assert issue.closed_at >= max(
                [issue.created_at, *(c.created_at for c in issue.comments)]
            )
    assert len({i.number for i in issues}) == len(issues)
    assert len({c.comment_id for c in comments}) == len(comments)
    assert {"de", "fr", "es"} & {i.language for i in issues}


def test_issues_name_the_worlds_real_campaigns_in_their_utm_tags():
    real = {c.campaign_id for c in WORLD.campaigns()} | {
        c.campaign_id for c in WORLD.meta_campaigns()
    }
    texts = [i.body for i in month_issues()] + [c.body for i in month_issues() for c in i.comments]
    tagged = [m for text in texts for m in re.findall(r"utm_campaign=(\d+)", text)]
    assert tagged and set(tagged) <= real
    names = {c.name for c in WORLD.campaigns()} | {c.name for c in WORLD.meta_campaigns()}
    assert any(name in i.title or name in i.body for i in month_issues() for name in names)


def test_planted_instructions_are_marked_in_the_ground_truth_and_only_those():
    issues = month_issues()
    texts = [(i.is_injection, i.body) for i in issues] + [
        (c.is_injection, c.body) for i in issues for c in i.comments
    ]
    for marked, body in texts:
        assert marked == any(word in body for word in HOSTILE), body
    assert sum(marked for marked, _ in texts) >= 3
    assert any(i.is_injection for i in issues)
    assert any(c.is_injection for i in issues for c in i.comments)


def test_the_tracker_shows_issues_as_they_stand_at_the_end_of_its_last_day():
    days = DEMO_WEEK[:3]
    now = datetime.combine(days[-1] + timedelta(days=1), time(), tzinfo=UTC)
    held = tracker_issues(WORLD, days)
    created = [i for day in days for i in WORLD.issues_created_on(day)]
    assert [i.number for i in held] == sorted(i.number for i in created)
    by_number = {i.number: i for i in created}
    for issue in held:
        full = by_number[issue.number]
        assert issue.comments == tuple(c for c in full.comments if c.created_at < now)
        assert issue.updated_at < now
        expect_closed = full.closed_at is not None and full.closed_at < now
        assert issue.state == ("closed" if expect_closed else "open")
    assert any(len(i.comments) < len(by_number[i.number].comments) for i in held)


@pytest.mark.parametrize("day", DEMO_WEEK[:2])
def test_issues_are_deterministic(day):
    first = WORLD.issues_created_on(day)
    clear_caches()
    assert World(seed=42).issues_created_on(day) == first


def test_the_ground_truth_carries_the_days_reviews_and_the_trackers_issues():
    truth = WORLD.ground_truth(DEMO_WEEK[:2])
    assert [r.review_id for r in truth.reviews] == [
        r.review_id for day in DEMO_WEEK[:2] for r in WORLD.reviews_on(day)
    ]
    assert [i.number for i in truth.issues] == sorted(
        i.number for day in DEMO_WEEK[:2] for i in WORLD.issues_created_on(day)
    )
    end = datetime.combine(DEMO_WEEK[2], time(), tzinfo=UTC)
    assert all(i.updated_at < end for i in truth.issues)
