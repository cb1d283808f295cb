"""The file drops: the GA4-like event export and the sales/shipping/accounting messages."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from caravan.simulator.files import SITE, write_sales_ops, write_web_analytics
from caravan.simulator.world import OpsFact, World, order_net_revenue

WORLD = World(seed=8)
DAY = date(2026, 11, 1)
DAYS = [DAY + timedelta(days=n) for n in range(3)]
EVENT_NAMES = {"page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"}


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _params(event: dict) -> dict:
    return {p["key"]: next(iter(p["value"].values())) for p in event["event_params"]}


def _utm(landing_site: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(landing_site).query).items()}


@pytest.fixture(scope="module")
def day_events(tmp_path_factory) -> list[dict]:
    folder = tmp_path_factory.mktemp("web_analytics")
    path = write_web_analytics(folder, WORLD, DAY)
    assert path == folder / "events_20261101.ndjson"
    return _events(path)


def test_events_are_shaped_like_the_ga4_export(day_events):
    start = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()) * 1_000_000
    assert {e["event_name"] for e in day_events} == EVENT_NAMES
    for event in day_events:
        assert event["event_date"] == "20261101"
        assert start <= event["event_timestamp"] < start + 86_400 * 1_000_000
        assert isinstance(event["user_pseudo_id"], str)
        assert event["user_id"] is None or event["user_id"].isdigit()
        assert event["device"]["category"] in {"mobile", "desktop", "tablet"}
        assert set(event["traffic_source"]) == {"source", "medium", "name"}
        for param in event["event_params"]:
            assert set(param) == {"key", "value"}
            [(kind, value)] = param["value"].items()
            expected_type = {"string_value": str, "int_value": int, "double_value": float}[kind]
            assert type(value) is expected_type
        params = _params(event)
        assert params["page_location"].startswith(SITE)
        assert isinstance(params["ga_session_id"], int)
    timestamps = [e["event_timestamp"] for e in day_events]
    assert timestamps == sorted(timestamps)


def test_each_order_has_exactly_one_purchase_event_with_its_id_revenue_and_utm(day_events):
    purchases = [e for e in day_events if e["event_name"] == "purchase"]
    orders = {str(o.order_id): o for o in WORLD.orders_on(DAY)}
    ids = Counter(e["ecommerce"]["transaction_id"] for e in purchases)
    assert set(ids) == set(orders) and set(ids.values()) == {1}
    for event in purchases:
        order = orders[event["ecommerce"]["transaction_id"]]
        assert _params(event)["transaction_id"] == str(order.order_id)
        assert Decimal(str(event["ecommerce"]["purchase_revenue"])) == order_net_revenue(order)
        assert event["event_timestamp"] == int(order.created_at.timestamp()) * 1_000_000
        utm = _utm(order.landing_site)
        collected = event["collected_traffic_source"]
        if utm:
            assert collected["manual_source"] == utm["utm_source"]
            assert collected["manual_medium"] == utm["utm_medium"]
            assert collected["manual_campaign_id"] == utm["utm_campaign"]
            assert event["traffic_source"]["source"] == utm["utm_source"]
        else:
            assert collected is None
            assert event["traffic_source"]["source"] == "(direct)"
        assert sum(i["quantity"] for i in event["items"]) == sum(i.quantity for i in order.items)


def test_a_purchase_visit_lands_on_the_orders_landing_site(day_events):
    sessions: dict[tuple, list[dict]] = {}
    for event in day_events:
        sessions.setdefault((event["user_pseudo_id"], _params(event)["ga_session_id"]), []).append(
            event
        )
    orders = {str(o.order_id): o for o in WORLD.orders_on(DAY)}
    buyers = 0
    for events in sessions.values():
        names = [e["event_name"] for e in events]
        assert names[0] == "page_view"
        if "purchase" not in names:
            continue
        buyers += 1
        order = orders[events[-1]["ecommerce"]["transaction_id"]]
        assert _params(events[0])["page_location"] == SITE + order.landing_site
        assert names == ["page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"]
        customer = WORLD.customer(order.customer_id)
        if order.is_first_order:
            assert events[-1]["user_id"] == str(customer.customer_id)
    assert buyers == len(orders)
    assert len(sessions) - buyers > 5 * buyers  # most visits buy nothing


def test_a_customers_browser_id_is_the_same_on_another_day(tmp_path):
    later = DAY + timedelta(days=5)
    events = _events(write_web_analytics(tmp_path, WORLD, DAY)) + _events(
        write_web_analytics(tmp_path, WORLD, later)
    )
    pseudo_by_user: dict[str, set[str]] = {}
    for event in events:
        if event["user_id"]:
            pseudo_by_user.setdefault(event["user_id"], set()).add(event["user_pseudo_id"])
    assert all(len(ids) == 1 for ids in pseudo_by_user.values())
    days_seen = {
        user
        for user in pseudo_by_user
        if {e["event_date"] for e in events if e["user_id"] == user} == {"20261101", "20261106"}
    }
    assert days_seen  # some customers come back


def test_rewriting_a_day_gives_the_same_bytes_and_leaves_no_temporary_file(tmp_path):
    first = write_web_analytics(tmp_path, WORLD, DAY).read_bytes()
    assert write_web_analytics(tmp_path, WORLD, DAY).read_bytes() == first
    assert [p.name for p in tmp_path.iterdir()] == ["events_20261101.ndjson"]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """The apps' drops for the days, and the next day (where the last day's late ones land)."""
    folder = tmp_path_factory.mktemp("sales_ops")
    for day in [*DAYS, DAYS[-1] + timedelta(days=1)]:
        paths = write_sales_ops(folder, WORLD, day)
        assert sorted(p.relative_to(folder).as_posix() for p in paths) == [
            f"{day}/accounting.jsonl",
            f"{day}/sales.jsonl",
            f"{day}/shipping.jsonl",
        ]
    return folder


def _messages(folder: Path) -> list[tuple[str, str, dict]]:
    """(folder day, file app, message) for every line."""
    return [
        (path.parent.name, path.stem, json.loads(line))
        for path in sorted(folder.glob("*/*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def _fact(message: dict) -> OpsFact:
    payload = message["payload"]
    amount = payload.get("amount") or payload.get("amount_paid")
    return OpsFact(
        kind=message["type"],
        order_id=payload["order_id"],
        occurred_at=datetime.fromisoformat(message["occurred_at"].replace("Z", "+00:00")),
        amount=None if message["type"] == "order_shipped" else Decimal(amount),
    )


def test_deduplicated_messages_are_exactly_the_truths_facts(landing):
    messages = _messages(landing)
    unique = {m["message_id"]: m for _, _, m in messages}
    facts = {_fact(m) for m in unique.values()}
    about_days = {f for f in facts if f.occurred_at.date() in DAYS}
    truth = WORLD.ground_truth(DAYS).sales_ops_facts
    assert len(set(truth)) == len(truth)
    assert about_days == set(truth)
    # Every kind per order once: the apps agree on each fact's time and amount.
    assert len({(f.kind, f.order_id) for f in facts}) == len(facts)
    orders = [o for day in DAYS for o in WORLD.orders_on(day)]
    placed = {f.order_id for f in truth if f.kind == "order_placed"}
    paid = {f.order_id for f in truth if f.kind == "invoice_paid"}
    shipped = {f.order_id for f in truth if f.kind == "order_shipped"}
    assert placed == {o.order_id for o in orders}
    assert paid == {o.order_id for o in orders if o.status != "cancelled"}
    assert shipped == {
        o.order_id for o in orders if o.status in ("shipped", "delivered", "refunded")
    }


def test_messages_overlap_repeat_and_arrive_late(landing):
    messages = _messages(landing)
    ids = Counter(m["message_id"] for _, _, m in messages)
    assert any(count == 2 for count in ids.values())  # redelivered with the same id
    unique = {m["message_id"]: m for _, _, m in messages}
    senders: dict[tuple, set[str]] = {}
    for message in unique.values():
        senders.setdefault((message["type"], message["payload"]["order_id"]), set()).add(
            message["app"]
        )
    assert any(len(apps) == 2 for apps in senders.values())  # one fact from two apps
    late = [(folder, m) for folder, _, m in messages if not m["occurred_at"].startswith(folder)]
    assert late
    for folder, message in late:
        occurred = date.fromisoformat(message["occurred_at"][:10])
        assert occurred == date.fromisoformat(folder) - timedelta(days=1)
        assert message["sent_at"].startswith(folder)
    for _, app, message in messages:
        assert message["app"] == app


def test_the_first_days_folder_holds_late_messages_about_the_day_before(landing):
    messages = _messages(landing)
    earlier = [(folder, m) for folder, _, m in messages if m["occurred_at"] < f"{DAYS[0]}"]
    assert earlier
    assert {folder for folder, _ in earlier} == {str(DAYS[0])}
    earlier = [m for _, m in earlier]
    truth_before = set(WORLD.ground_truth([DAYS[0] - timedelta(days=1)]).sales_ops_facts)
    assert {_fact(m) for m in earlier} <= truth_before


def _line_kind(line: str, id_field: str, typed_field: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return "bad_json"
    if id_field not in record:
        return "missing_id"
    if record[typed_field] == "N/A":
        return "wrong_type"
    return None


def test_malformed_lines_are_exactly_the_ones_ground_truth_names(tmp_path):
    rate = 0.02
    days = DAYS[:2]
    truth = WORLD.ground_truth(days, malformed_rate=rate).malformed_records
    web, ops = tmp_path / "web", tmp_path / "ops"
    for day in days:
        write_web_analytics(web, WORLD, day, malformed_rate=rate)
        write_sales_ops(ops, WORLD, day, malformed_rate=rate)
    for folder, pattern, entity, fields in (
        (web, "*.ndjson", "web_analytics/events", ("user_pseudo_id", "event_timestamp")),
        (ops, "*/*.jsonl", "sales_ops/messages", ("message_id", "occurred_at")),
    ):
        found = {}
        for path in folder.glob(pattern):
            relative = path.relative_to(folder).as_posix()
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                kind = _line_kind(line, *fields)
                if kind:
                    found[f"{relative}:{number}"] = kind
        assert found == truth[entity]
        assert found
    assert set(truth["web_analytics/events"].values()) == {"bad_json", "missing_id", "wrong_type"}
