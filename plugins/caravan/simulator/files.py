"""The file-drop systems: the GA4 daily event export and the sales/shipping/accounting apps.

Records are built by pure functions of (World, day), then written as JSON lines.
The site's purchase events carry the shop's order ids and the orders' utm tags;
the apps' messages repeat the shop's facts, some twice, some a day late. Files
are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from caravan.simulator.faults import (
    BAD_JSON,
    FILE_MALFORMATIONS,
    MISSING_ID,
    WRONG_VALUE,
    broken_json,
    file_line_key,
    malformation,
)
from caravan.simulator.records import (
    REPORTING_CURRENCY,
    RETURNING_LOOKBACK_DAYS,
    Customer,
    OpsFact,
    Order,
    count_around,
    day_rng,
    order_net_revenue,
)

if TYPE_CHECKING:  # the World's ground truth builds on these files: its type only
    from caravan.simulator.world import World

SITE = "https://shop.example.com"
STREAM_ID = "4812345678"
DIRECT = {"source": "(direct)", "medium": "(none)", "name": "(direct)"}
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_WEIGHTS = (60, 35, 5)
# Sessions that buy nothing, per day at scale 1 (the shop converts roughly one in ten).
BROWSE_SESSIONS_PER_DAY = 300
MICROS = 1_000_000

ORDER_PLACED, ORDER_SHIPPED, INVOICE_PAID = "order_placed", "order_shipped", "invoice_paid"
# The app that owns each fact, and the other app that sometimes reports it too.
OWNER = {ORDER_PLACED: "sales", ORDER_SHIPPED: "shipping", INVOICE_PAID: "accounting"}
ECHO = {INVOICE_PAID: ("sales", 0.15), ORDER_SHIPPED: ("accounting", 0.10)}
APPS = ("sales", "shipping", "accounting")
REDELIVERED_SHARE = 0.04
LATE_SHARE = 0.06
CARRIERS = ("UPS", "FedEx", "USPS", "DHL")


# --- web analytics (GA4 BigQuery export, one NDJSON file per day) ---------------------------


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * MICROS + moment.microsecond


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def param(key: str, value: str | int | float) -> dict[str, Any]:
    """One GA4 event parameter: the value under the field named for its type."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"event parameter {key}: unsupported value {value!r}")
    kind = "string_value" if isinstance(value, str) else "int_value"
    if isinstance(value, float):
        kind = "double_value"
    return {"key": key, "value": {kind: value}}


def pseudo_id(seed: int, customer: Customer) -> str:
    """A customer's browser cookie id, the same every day (GA4's `<random>.<first visit>`)."""
    number = random.Random(f"{seed}:pseudo:{customer.customer_id}").randrange(10**9, 10**10)
    return f"{number}.{int(customer.created_at.timestamp())}"


def campaign_names(world: World) -> dict[str, str]:
    names = {c.campaign_id: c.name for c in world.campaigns()}
    names.update({c.campaign_id: c.name for c in world.meta_campaigns()})
    return names


def traffic(
    landing_site: str, names: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(traffic_source, collected_traffic_source) for a landing URL's utm tags."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(landing_site).query).items()}
    source = params.get("utm_source")
    if not source:
        return dict(DIRECT), None
    campaign = params.get("utm_campaign")
    name = names.get(campaign or "", campaign or "(not set)")
    collected = {
        "manual_source": source,
        "manual_medium": params.get("utm_medium"),
        "manual_campaign_id": campaign,
        "manual_campaign_name": name,
        "manual_content": params.get("utm_content"),
    }
    return {"source": source, "medium": params.get("utm_medium"), "name": name}, collected


@dataclass(frozen=True)
class Session:
    """What every event of one visit shares."""

    pseudo_id: str
    session_id: int
    session_number: int
    device: str
    traffic_source: dict[str, Any]
    collected: dict[str, Any] | None


def event(
    session: Session,
    moment: datetime,
    name: str,
    page: str,
    user_id: str | None,
    extra_params: Iterable[dict[str, Any]] = (),
    ecommerce: dict[str, Any] | None = None,
    items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "event_date": moment.strftime("%Y%m%d"),
        "event_timestamp": _micros(moment),
        "event_name": name,
        "event_params": [
            param("ga_session_id", session.session_id),
            param("ga_session_number", session.session_number),
            param("page_location", f"{SITE}{page}"),
            *extra_params,
        ],
        "user_pseudo_id": session.pseudo_id,
        "user_id": user_id,
        "platform": "WEB",
        "stream_id": STREAM_ID,
        "device": {"category": session.device},
        "traffic_source": session.traffic_source,
        "collected_traffic_source": session.collected,
        "ecommerce": ecommerce,
        "items": items or [],
    }


def _item(product: Any, quantity: int) -> dict[str, Any]:
    return {
        "item_id": product.sku,
        "item_name": product.name,
        "item_category": product.category,
        "price": float(product.price),
        "quantity": quantity,
    }


def _moments(rng: random.Random, day: date, end: datetime, steps: int) -> list[datetime]:
    """`steps + 1` instants of one visit ending at `end`, never before the day starts."""
    start = max(_day_start(day), end - timedelta(seconds=rng.randint(120, 1500)))
    span = end - start
    return [start + span * k / steps for k in range(steps + 1)]


def buyer_events(
    world: World, rng: random.Random, day: date, order: Order, names: dict[str, str]
) -> list[dict[str, Any]]:
    """The visit that placed `order`: landing page … purchase at the order's own instant."""
    customer = world.customer(order.customer_id)
    products = {p.product_id: p for p in world.products()}
    items = [_item(products[i.product_id], i.quantity) for i in order.items]
    source, collected = traffic(order.landing_site, names)
    moments = _moments(rng, day, order.created_at, 4)
    session = Session(
        pseudo_id=pseudo_id(world.seed, customer),
        session_id=int(moments[0].timestamp()),
        session_number=1 if order.is_first_order else rng.randint(2, 12),
        device=rng.choices(DEVICES, DEVICE_WEIGHTS)[0],
        traffic_source=source,
        collected=collected,
    )
    logged_in = order.is_first_order or rng.random() < 0.8

    def user(moment: datetime) -> str | None:
        signed_in = logged_in and moment >= customer.created_at
        return str(customer.customer_id) if signed_in else None

    net = order_net_revenue(order)
    product_page = f"/products/{items[0]['item_id']}"
    steps = [
        ("page_view", order.landing_site, [], None, None),
        ("view_item", product_page, [], None, items[:1]),
        ("add_to_cart", product_page, [], None, items),
        ("begin_checkout", "/checkout", [], None, items),
        (
            "purchase",
            "/checkout/thank-you",
            [
                param("transaction_id", str(order.order_id)),
                param("value", float(net)),
                param("currency", order.currency),
            ],
            {
                "transaction_id": str(order.order_id),
                "purchase_revenue": float(net),
                "total_item_quantity": sum(i.quantity for i in order.items),
                "unique_items": len(order.items),
            },
            items,
        ),
    ]
    return [
        event(session, moment, name, page, user(moment), extra, ecommerce, event_items)
        for moment, (name, page, extra, ecommerce, event_items) in zip(moments, steps, strict=True)
    ]


def _browse_landing(rng: random.Random, world: World, page: str) -> str:
    """A landing URL for a visit that buys nothing: paid, organic, email or direct."""
    roll = rng.random()
    if roll < 0.30:
        campaign = rng.choice(world.campaigns()).campaign_id
        return f"{page}?utm_source=google&utm_medium=cpc&utm_campaign={campaign}"
    if roll < 0.50:
        adset = rng.choice(world.meta_adsets())
        return (
            f"{page}?utm_source=facebook&utm_medium=paid_social"
            f"&utm_campaign={adset.campaign_id}&utm_content={adset.adset_id}"
        )
    if roll < 0.55:
        return f"{page}?utm_source=newsletter&utm_medium=email&utm_campaign=weekly"
    return page


def browse_events(
    world: World, rng: random.Random, day: date, names: dict[str, str]
) -> list[dict[str, Any]]:
    """A visit without a purchase; some reach the cart or the checkout."""
    products = world.products()
    viewed = rng.sample(products, rng.choices((1, 2, 3, 4), (35, 35, 20, 10))[0])
    page = rng.choice(("/", f"/products/{viewed[0].sku}", f"/collections/{viewed[0].category}"))
    landing = _browse_landing(rng, world, page)
    source, collected = traffic(landing, names)
    if rng.random() < 0.2:  # someone who bought before, on their usual browser
        signup = day - timedelta(days=rng.randint(1, RETURNING_LOOKBACK_DAYS))
        known = world.customers_created_on(signup)
    else:
        known = []
    customer = rng.choice(known) if known else None
    start = _day_start(day) + timedelta(seconds=rng.randrange(0, 86_400 - 1_800))
    if customer is not None:
        visitor, session_number = pseudo_id(world.seed, customer), rng.randint(2, 12)
        user_id = str(customer.customer_id) if rng.random() < 0.5 else None
    else:
        first_visit = int(start.timestamp()) - rng.randrange(0, 90 * 86_400)
        visitor, session_number = f"{rng.randrange(10**9, 10**10)}.{first_visit}", 1
        user_id = None
    session = Session(
        visitor, int(start.timestamp()), session_number,
        rng.choices(DEVICES, DEVICE_WEIGHTS)[0], source, collected,
    )  # fmt: skip
    steps: list[tuple[str, str, list[dict[str, Any]]]] = [("page_view", landing, [])]
    steps += [("view_item", f"/products/{p.sku}", [_item(p, 1)]) for p in viewed]
    if rng.random() < 0.15:
        steps.append(("add_to_cart", f"/products/{viewed[-1].sku}", [_item(viewed[-1], 1)]))
        if rng.random() < 0.35:
            steps.append(("begin_checkout", "/checkout", [_item(viewed[-1], 1)]))
    events, moment = [], start
    for name, page_path, items in steps:
        events.append(event(session, moment, name, page_path, user_id, items=items))
        moment += timedelta(seconds=rng.randint(5, 240))
    return events


def web_events(world: World, day: date) -> list[dict[str, Any]]:
    """The day's GA4 export: every order's visit and the visits that bought nothing, by time."""
    rng = day_rng(world.seed, "web_analytics", day)
    names = campaign_names(world)
    visits = [buyer_events(world, rng, day, order, names) for order in world.orders_on(day)]
    visits += [
        browse_events(world, rng, day, names)
        for _ in range(count_around(rng, BROWSE_SESSIONS_PER_DAY * world.scale))
    ]
    numbered = [(e["event_timestamp"], v, k, e) for v, visit in enumerate(visits)
                for k, e in enumerate(visit)]  # fmt: skip
    return [e for *_, e in sorted(numbered, key=lambda t: t[:3])]


def web_analytics_file_name(day: date) -> str:
    return f"events_{day:%Y%m%d}.ndjson"


def malformed_line(record: dict[str, Any], kind: str, id_field: str, typed_field: str) -> str:
    """A record's line as a faulty exporter would write it."""
    if kind == BAD_JSON:
        return broken_json(_line(record))
    if kind == MISSING_ID:
        return _line({k: v for k, v in record.items() if k != id_field})
    return _line({**record, typed_field: WRONG_VALUE})


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def _lines(
    records: list[dict[str, Any]],
    world: World,
    rate: float,
    entity: str,
    relative_path: str,
    fields: tuple[str, str],
) -> list[str]:
    lines = []
    for number, record in enumerate(records, start=1):
        key = file_line_key(relative_path, number)
        kind = malformation(world.seed, rate, entity, key, FILE_MALFORMATIONS)
        lines.append(_line(record) if kind is None else malformed_line(record, kind, *fields))
    return lines


def web_analytics_lines(world: World, day: date, malformed_rate: float = 0.0) -> list[str]:
    name = web_analytics_file_name(day)
    fields = ("user_pseudo_id", "event_timestamp")
    return _lines(
        web_events(world, day), world, malformed_rate, "web_analytics/events", name, fields
    )


def write_web_analytics(folder: Path, world: World, day: date, malformed_rate: float = 0.0) -> Path:
    """Drop `events_YYYYMMDD.ndjson` for `day` into `folder` (replacing any earlier drop)."""
    path = Path(folder) / web_analytics_file_name(day)
    _write_lines(path, web_analytics_lines(world, day, malformed_rate))
    return path


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    os.replace(temporary, path)


# --- sales, shipping and accounting apps (JSON messages, one file per app and day) ----------


@dataclass(frozen=True)
class OpsMessage:
    message_id: str
    app: str
    fact: OpsFact
    sent_at: datetime
    payload: dict[str, Any]

    def record(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "app": self.app,
            "type": self.fact.kind,
            "occurred_at": _iso(self.fact.occurred_at),
            "sent_at": _iso(self.sent_at),
            "payload": self.payload,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _end_of(day: date) -> datetime:
    return _day_start(day) + timedelta(days=1) - timedelta(seconds=1)


def shipped_at(order: Order) -> datetime | None:
    """When a shipped or delivered order left the warehouse (on its own day)."""
    if order.status == "shipped":
        return order.first_change_at
    if order.status in ("delivered", "refunded"):
        return order.created_at + timedelta(
            seconds=int((order.first_change_at - order.created_at).total_seconds()) // 2
        )
    return None


def _payload(world: World, order: Order, fact: OpsFact, rng: random.Random) -> dict[str, Any]:
    """What the apps say about a fact; each repeats some of the order's facts."""
    customer = world.customer(order.customer_id)
    amount = None if fact.amount is None else f"{fact.amount:.2f}"
    if fact.kind == ORDER_PLACED:
        return {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "email": customer.email.strip(),
            "placed_at": _iso(fact.occurred_at),
            "currency": order.currency,
            "amount": amount,
            "items": [
                {
                    "product_id": i.product_id,
                    "quantity": i.quantity,
                    "unit_price": str(i.unit_price),
                }
                for i in order.items
            ],
        }
    if fact.kind == ORDER_SHIPPED:
        return {
            "order_id": order.order_id,
            "shipped_at": _iso(fact.occurred_at),
            "carrier": rng.choice(CARRIERS),
            "tracking_number": f"1Z{rng.randrange(10**11, 10**12)}",
            "ship_to_region": customer.region,
            "units": sum(i.quantity for i in order.items),
        }
    return {
        "invoice_id": f"INV-{order.order_id}",
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "amount_paid": amount,
        "currency": order.currency,
        "paid_at": _iso(fact.occurred_at),
    }


def order_facts(rng: random.Random, order: Order) -> list[OpsFact]:
    """Placed always; paid unless cancelled (seconds after checkout); shipped if it left."""
    day = order.created_at.date()
    net = order_net_revenue(order)
    facts = [OpsFact(ORDER_PLACED, order.order_id, order.created_at, net)]
    if order.status != "cancelled":
        paid = min(order.created_at + timedelta(seconds=rng.randint(5, 120)), _end_of(day))
        facts.append(OpsFact(INVOICE_PAID, order.order_id, paid, net))
    shipped = shipped_at(order)
    if shipped is not None:
        facts.append(OpsFact(ORDER_SHIPPED, order.order_id, shipped, None))
    return facts


def _messages_about(world: World, day: date) -> list[tuple[date, OpsMessage]]:
    """(landing day, message) for every message about the day's orders, copies included."""
    rng = day_rng(world.seed, "sales_ops", day)
    messages = []
    for order in world.orders_on(day):
        for fact in order_facts(rng, order):
            payload = _payload(world, order, fact, rng)
            senders = [OWNER[fact.kind]]
            echo = ECHO.get(fact.kind)
            if echo is not None and rng.random() < echo[1]:
                senders.append(echo[0])
            for app in senders:
                message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                if rng.random() < LATE_SHARE:
                    landing = day + timedelta(days=1)
                    sent = _day_start(landing) + timedelta(seconds=rng.randint(60, 6 * 3600))
                else:
                    landing = day
                    sent = min(
                        fact.occurred_at + timedelta(seconds=rng.randint(1, 300)), _end_of(day)
                    )
                copies = 2 if rng.random() < REDELIVERED_SHARE else 1
                for copy in range(copies):
                    resent = min(
                        sent + timedelta(seconds=copy * rng.randint(1, 600)), _end_of(landing)
                    )
                    messages.append((landing, OpsMessage(message_id, app, fact, resent, payload)))
    return messages


def sales_ops_messages(world: World, day: date) -> dict[str, list[OpsMessage]]:
    """The messages each app drops on `day`: its on-time ones and yesterday's late ones."""
    landed = [m for landing, m in _messages_about(world, day - timedelta(days=1)) if landing == day]
    landed += [m for landing, m in _messages_about(world, day) if landing == day]
    by_app: dict[str, list[OpsMessage]] = {app: [] for app in APPS}
    for message in sorted(landed, key=lambda m: (m.sent_at, m.message_id)):
        by_app[message.app].append(message)
    return by_app


def sales_ops_facts(world: World, day: date) -> list[OpsFact]:
    """The de-duplicated facts about the day's orders (what the messages boil down to)."""
    facts = {m.fact for _, m in _messages_about(world, day)}
    return sorted(facts, key=lambda f: (f.occurred_at, f.order_id, f.kind))


def sales_ops_file_name(day: date, app: str) -> str:
    """`YYYY-MM-DD/<app>.jsonl`, relative to the source's landing folder."""
    return f"{day.isoformat()}/{app}.jsonl"


def sales_ops_lines(world: World, day: date, malformed_rate: float = 0.0) -> dict[str, list[str]]:
    """Each app's file for `day`, as relative path -> lines."""
    return {
        sales_ops_file_name(day, app): _lines(
            [m.record() for m in messages],
            world,
            malformed_rate,
            "sales_ops/messages",
            sales_ops_file_name(day, app),
            ("message_id", "occurred_at"),
        )
        for app, messages in sales_ops_messages(world, day).items()
    }


def write_sales_ops(
    folder: Path, world: World, day: date, malformed_rate: float = 0.0
) -> list[Path]:
    """Drop the apps' message files for `day` into `folder/YYYY-MM-DD/` (one file per app)."""
    paths = []
    for relative, lines in sales_ops_lines(world, day, malformed_rate).items():
        path = Path(folder) / relative
        _write_lines(path, lines)
        paths.append(path)
    return paths


# --- the FX rates feed (the accounting app's daily rates file) ------------------------------

# Like the ECB's history feed, each day's file repeats the last days' rates, so a job
# re-reading the ad platforms' lookback finds every rate it needs in one partition.
FX_HISTORY_DAYS = 14
FX_CURRENCIES = ("EUR",)


def fx_rates_file_name(day: date) -> str:
    return f"rates_{day.isoformat()}.csv"


def fx_rates_lines(world: World, day: date) -> list[str]:
    """`date,currency,quote_currency,rate`: units of the reporting currency per unit."""
    lines = ["date,currency,quote_currency,rate"]
    for back in range(FX_HISTORY_DAYS - 1, -1, -1):
        rate_day = day - timedelta(days=back)
        for currency in FX_CURRENCIES:
            rate = world.fx_rate(rate_day, currency)
            lines.append(f"{rate_day.isoformat()},{currency},{REPORTING_CURRENCY},{rate}")
    return lines


def write_fx_rates(folder: Path, world: World, day: date) -> Path:
    """Drop `rates_YYYY-MM-DD.csv` for `day` into `folder` (replacing any earlier drop)."""
    path = Path(folder) / fx_rates_file_name(day)
    _write_lines(path, fx_rates_lines(world, day))
    return path


# --- the project's docs (the docs repository's CI drops its export once a day) --------------

# The checkout this package belongs to: its docs/, README.md and dbt models.
PROJECT_DIR = Path(__file__).resolve().parents[3]


def docs_file_name(day: date) -> str:
    return f"docs_{day.isoformat()}.jsonl"


def write_docs(folder: Path, day: date, project_dir: Path = PROJECT_DIR) -> Path:
    """Drop `docs_YYYY-MM-DD.jsonl` for `day`: the project's doc chunks as they are now
    (caravan.assistant.doc_chunks), standing for the docs as they were that day."""
    from caravan.assistant.doc_chunks import export_docs

    path = Path(folder) / docs_file_name(day)
    export_docs(project_dir, path)
    return path
