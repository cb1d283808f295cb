"""The metric questions' gold set (gold_metrics.yaml), asked through the governed metric path.

    .venv/bin/python bench/assistant/gold.py [--home DIR] [--model] [--verbose]

The warehouse is `make demo`'s (CARAVAN_HOME, or --home): seed 42, 2026-11-01..07. Each
question's expected answer is worked out here from the simulator's own records (the
World's orders as the shop holds them at the window's end, its ad platforms' daily rows,
its FX rates, and the simulator's conventions for which campaign an order landed from),
never from the marts; the totals are checked against `World.ground_truth` first.

Offline, `parse_metric_question` chooses each query. With --model (OPENAI_API_KEY and
OPENAI_BASE_URL set), the model at that endpoint chooses it through structured outputs
(`METRIC_QUERY_JSON_SCHEMA`). Any other chooser plugs into `run_gold(settings, choose)`:
a callable `question -> MetricQuery | None`. Money compares within a cent, counts exactly,
ratios to a millionth of their value.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from caravan.assistant.metrics import (
    METRIC_QUERY_JSON_SCHEMA,
    MetricAnswer,
    MetricQuery,
    metric_query_from_choice,
    parse_metric_question,
    run_metric_query,
)
from caravan.settings import Settings, get_settings
from caravan.simulator.world import (
    MICROS_PER_UNIT,
    REVENUE_STATUSES,
    World,
    end_of_day,
    google_cpc_campaign,
    meta_campaign,
    order_gross_revenue,
    order_net_revenue,
    to_reporting_currency,
)

GOLD = Path(__file__).with_name("gold_metrics.yaml")
CENT = Decimal("0.01")
RATIOS = {"average_order_value", "roas", "cpa", "cac", "cpc", "ctr"}


# -- the simulator's facts, one record per order, ad row and order line -----------------


@dataclass(frozen=True)
class WorldFacts:
    orders: list[dict[str, Any]]
    ads: list[dict[str, Any]]
    lines: list[dict[str, Any]]


def world_facts(world: World, days: list[date]) -> WorldFacts:
    """The window's orders as the shop holds them at its end, with the channel and
    campaign each landed from (last touch, as the simulator tags them); each ad platform's
    campaign-days in the reporting currency; the revenue orders' lines."""
    as_of = end_of_day(max(days))
    category = {product.product_id: product.category for product in world.products()}
    orders, lines = [], []
    for day in days:
        for order in (o.as_of(as_of) for o in world.orders_on(day)):
            google = google_cpc_campaign(order.landing_site)
            meta = meta_campaign(order.landing_site)
            channel = "google_ads" if google else "meta_ads" if meta else "direct"
            is_revenue = order.status in REVENUE_STATUSES
            orders.append(
                {
                    "day": day,
                    "status": order.status,
                    "is_revenue": is_revenue,
                    "region": world.customer(order.customer_id).region,
                    "channel": channel,
                    "campaign": google or meta or "(none)",
                    "gross": order_gross_revenue(order),
                    "discount": order.discount_amount,
                    "net": order_net_revenue(order),
                    "units": sum(item.quantity for item in order.items),
                    "is_new": order.is_first_order,
                }
            )
            if is_revenue:
                for item in order.items:
                    lines.append(
                        {
                            "day": day,
                            "category": category[item.product_id],
                            "units": item.quantity,
                            "gross": item.quantity * item.unit_price,
                        }
                    )
    ads = []
    for day in days:
        for row in world.campaign_performance(day):
            spend = (Decimal(row.cost_micros) / MICROS_PER_UNIT).quantize(CENT)
            ads.append(_ad(day, "google_ads", row.campaign_id, spend, row))
        for row in world.meta_campaign_performance(day):
            spend = to_reporting_currency(row.spend, world.fx_rate(day, row.currency))
            ads.append(_ad(day, "meta_ads", row.campaign_id, spend, row))
    return WorldFacts(orders, ads, lines)


def _ad(day: date, platform: str, campaign: str, spend: Decimal, row: Any) -> dict[str, Any]:
    return {
        "day": day,
        "platform": platform,
        "channel": platform,
        "campaign": campaign,
        "spend": spend,
        "impressions": row.impressions,
        "clicks": row.clicks,
    }


def check_against_ground_truth(world: World, days: list[date], facts: WorldFacts) -> None:
    """The facts add up to `World.ground_truth` for the window, or the gold set is wrong."""
    truth = world.ground_truth(days)
    revenue = [order for order in facts.orders if order["is_revenue"]]
    checks = {
        "orders": (len(facts.orders), truth.orders),
        "net_revenue": (sum(o["net"] for o in revenue), truth.net_revenue),
        "new_customers": (sum(o["is_new"] for o in revenue), truth.new_customers),
        "spend": (sum(a["spend"] for a in facts.ads), truth.spend + truth.meta_spend_reporting),
        "clicks": (sum(a["clicks"] for a in facts.ads), truth.clicks + truth.meta_clicks),
        "direct": (
            sum(o["net"] for o in revenue if o["channel"] == "direct"),
            truth.direct_revenue,
        ),
    }
    wrong = {name: pair for name, pair in checks.items() if pair[0] != pair[1]}
    if wrong:
        raise RuntimeError(f"the gold set's facts disagree with World.ground_truth: {wrong}")


# -- each question's expected answer -----------------------------------------------------


def expected_answer(facts: WorldFacts, expect: dict[str, Any]) -> Any:
    """A number, or {group key: number}, from the facts: `figure` over `window` (two ISO
    dates), optionally `by` one field, `where` {field: value}, `top` N (largest first)."""
    first, last = (_as_date(day) for day in expect["window"])
    where = expect.get("where") or {}
    by = expect.get("by")

    def keep(records: list[dict]) -> list[dict]:
        return [
            r
            for r in records
            if first <= r["day"] <= last and all(r.get(k) == v for k, v in where.items())
        ]

    figure = expect["figure"]
    if by is None:
        result: Any = _figure(figure, keep(facts.orders), keep(facts.ads), keep(facts.lines))
    else:
        keys = {r[by] for rs in (facts.orders, facts.ads, facts.lines) for r in keep(rs) if by in r}
        result = {
            key: _figure(
                figure,
                [r for r in keep(facts.orders) if r.get(by) == key],
                [r for r in keep(facts.ads) if r.get(by) == key],
                [r for r in keep(facts.lines) if r.get(by) == key],
            )
            for key in keys
        }
        if expect.get("top"):
            ranked = sorted(result.items(), key=lambda item: item[1], reverse=True)
            result = dict(ranked[: expect["top"]])
    return result


def _figure(figure: str, orders: list[dict], ads: list[dict], lines: list[dict]) -> Any:
    revenue = [o for o in orders if o["is_revenue"]]
    spend = sum((a["spend"] for a in ads), Decimal("0.00"))
    net = sum((o["net"] for o in revenue), Decimal("0.00"))
    new = sum(1 for o in revenue if o["is_new"])
    simple = {
        "net_revenue": lambda: net,
        "gross_revenue": lambda: sum((o["gross"] for o in revenue), Decimal("0.00")),
        "discount": lambda: sum((o["discount"] for o in revenue), Decimal("0.00")),
        "orders": lambda: len(orders),
        "revenue_orders": lambda: len(revenue),
        "units": lambda: sum(o["units"] for o in revenue),
        "new_customers": lambda: new,
        "spend": lambda: spend,
        "impressions": lambda: sum(a["impressions"] for a in ads),
        "clicks": lambda: sum(a["clicks"] for a in ads),
        "category_units": lambda: sum(line["units"] for line in lines),
        "category_gross_revenue": lambda: sum((line["gross"] for line in lines), Decimal("0.00")),
        "average_order_value": lambda: _ratio(net, len(revenue)),
        "roas": lambda: _ratio(net, spend),
        "cpa": lambda: _ratio(spend, len(revenue)),
        "cac": lambda: _ratio(spend, new),
        "cpc": lambda: _ratio(spend, sum(a["clicks"] for a in ads)),
        "ctr": lambda: _ratio(sum(a["clicks"] for a in ads), sum(a["impressions"] for a in ads)),
    }
    return simple[figure]()


def _ratio(numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    return float(numerator) / float(denominator) if denominator else None


# -- comparing ---------------------------------------------------------------------------


def answer_value(answer: MetricAnswer, grouped: bool) -> Any:
    """The answer as a number (one row, first metric) or {first column: first metric}."""
    metric = answer.columns.index(answer.metrics[0])
    if not grouped:
        return answer.rows[0][metric] if len(answer.rows) == 1 else None
    return {_key(row[0]): row[metric] for row in answer.rows}


def _key(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def same(found: Any, expected: Any, figure: str) -> bool:
    if isinstance(expected, dict):
        if not isinstance(found, dict):
            return False
        keys = {_key(k) for k in expected} | set(found)
        wanted = {_key(k): v for k, v in expected.items()}
        return all(same(found.get(k), wanted.get(k), figure) for k in keys)
    zero = expected in (None, 0) and found in (None, 0)
    if zero:
        return True
    if found is None or expected is None:
        return False
    if figure in RATIOS:
        return abs(float(found) - float(expected)) <= 1e-6 * abs(float(expected))
    return abs(Decimal(str(found)) - Decimal(str(expected))) < CENT


# -- running -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldResult:
    question: str
    ok: bool
    detail: str


def run_gold(
    settings: Settings, choose: Callable[[str], MetricQuery | None], gold: dict | None = None
) -> list[GoldResult]:
    """Ask every gold question through `choose` and `run_metric_query`, and compare."""
    gold = gold or load_gold()
    world = World(seed=gold["seed"])
    days = _days(gold["window"])
    facts = world_facts(world, days)
    check_against_ground_truth(world, days, facts)
    results = []
    for item in gold["questions"]:
        question, expect = item["question"], item["expect"]
        expected = expected_answer(facts, expect)
        try:
            query = choose(question)
            if query is None:
                results.append(GoldResult(question, False, "no query chosen"))
                continue
            answer = run_metric_query(settings, query)
            found = answer_value(answer, grouped=expect.get("by") is not None)
        except Exception as error:  # a failed question counts, the run goes on
            results.append(GoldResult(question, False, f"{type(error).__name__}: {error}"))
            continue
        ok = same(found, expected, expect["figure"])
        detail = f"{answer.description}: {found}" + ("" if ok else f" (expected {expected})")
        results.append(GoldResult(question, ok, detail))
    return results


def load_gold(path: Path = GOLD) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _as_date(value: date | str) -> date:
    """YAML reads an unquoted 2026-11-01 as a date already."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def _days(window: Iterable[date | str]) -> list[date]:
    first, last = (_as_date(day) for day in window)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def offline_chooser(gold: dict[str, Any]) -> Callable[[str], MetricQuery | None]:
    as_of = _as_date(gold["as_of"])
    return lambda question: parse_metric_question(question, as_of)


def model_chooser(settings: Settings, gold: dict[str, Any]) -> Callable[[str], MetricQuery]:
    """The model at OPENAI_BASE_URL chooses the query through structured outputs."""
    import openai

    from caravan.assistant.metrics import metric_catalog

    client = openai.OpenAI(api_key=settings.openai_api_key, base_url=settings.openai_base_url)
    catalog = json.dumps(
        [
            {key: entry[key] for key in ("kind", "name", "description") if key in entry}
            for entry in metric_catalog(settings)
        ]
    )
    system = (
        "Choose the metric query that answers the analyst's question. Dates are inclusive;"
        f" the latest day with data is {gold['as_of']} ('yesterday' is that day, 'last week'"
        " the 7 days ending on it). Metrics of mart_marketing_roi need one attribution model"
        " (last_touch unless the question says otherwise). The catalogue: " + catalog
    )

    def choose(question: str) -> MetricQuery:
        completion = client.chat.completions.create(
            model=settings.openai_model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": "metric_query",
                    "strict": True,
                    "schema": METRIC_QUERY_JSON_SCHEMA,
                },
            },
        )
        return metric_query_from_choice(json.loads(completion.choices[0].message.content))

    return choose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="CARAVAN_HOME of a `make demo` warehouse")
    parser.add_argument("--model", action="store_true", help="the model at OPENAI_BASE_URL chooses")
    parser.add_argument("--verbose", action="store_true", help="every question, not only misses")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.home:
        settings = Settings.from_env({**os.environ, "CARAVAN_HOME": args.home})
    gold = load_gold()
    if args.model:
        if not settings.openai_api_key:
            parser.error("--model needs OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint)")
        choose, path = model_chooser(settings, gold), f"model {settings.openai_model}"
    else:
        choose, path = offline_chooser(gold), "offline parser"
    results = run_gold(settings, choose, gold)
    for result in results:
        if args.verbose or not result.ok:
            print(f"{'ok ' if result.ok else 'MISS'} {result.question}\n     {result.detail}")
    right = sum(result.ok for result in results)
    print(f"\n{path}: {right}/{len(results)} right ({right / len(results):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
