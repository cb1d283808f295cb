"""The governed path to numbers: a metric question becomes a MetricFlow query, not free SQL.

The metrics and their dimensions are dbt's semantic layer (dbt_project/models/semantic/):
semantic models over the marts, simple and ratio metrics, each described. A question
becomes a `MetricQuery` (metrics, group-by, time range, filters) chosen either by a
language model through structured outputs (`METRIC_QUERY_JSON_SCHEMA`, turned into a
query by `metric_query_from_choice`) or, offline, by `parse_metric_question`, which
knows the common phrasings and answers None when it cannot be sure.

`run_metric_query` has MetricFlow compile the query into SQL from dbt's semantic
manifest, with no warehouse connection: MetricFlow only needs a SQL client for its
dialect's renderer, so a compile-only client lends it DuckDB's, Snowflake's or
BigQuery's. The semantic models' relations are pointed at the `analytics` schema (the
gated copies analysts read, identical to `marts`), the time spine at
`semantic.metricflow_time_spine`, and the SQL runs read-only through
`caravan.query_guard`.

Metrics over mart_marketing_roi repeat spend under every attribution model, so such a
query always reads one model: `last_touch` unless the question names another.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caravan.settings import Settings

ANALYTICS_SCHEMA = "analytics"
# Where the semantic layer's own models (the time spine) are built: not a mart, not gated.
SEMANTIC_SCHEMA = "semantic"
TIME_SPINE = "metricflow_time_spine"
# The tables the metric path's SQL may read besides analytics' marts.
EXTRA_TABLES = (f"{SEMANTIC_SCHEMA}.{TIME_SPINE}",)
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
DEFAULT_ATTRIBUTION_MODEL = "last_touch"
ATTRIBUTION_DIMENSION = "marketing_roi__attribution_model"
MAX_ROWS = 500

# The metrics of dbt_project/models/semantic/_semantic__metrics.yml, by the semantic model
# they read, and each semantic model's dimensions as queried (`<entity>__<dimension>`).
# The JSON schema's enums and the offline parser use these; a test checks them against
# the semantic manifest, so they cannot drift from dbt's.
METRICS_BY_MODEL: dict[str, tuple[str, ...]] = {
    "orders": (
        "net_revenue",
        "gross_revenue",
        "discount",
        "orders",
        "revenue_orders",
        "units",
        "average_order_value",
    ),
    "marketing_roi": (
        "attributed_revenue",
        "attributed_orders",
        "new_customers",
        "marketing_spend",
        "roas",
        "cpa",
        "cac",
    ),
    "ad_spend": ("spend", "impressions", "clicks", "conversions", "ctr", "cpc"),
    "sales_daily": ("sales_net_revenue", "sales_gross_revenue", "units_sold", "category_orders"),
    "funnel": (
        "sessions",
        "add_to_carts",
        "checkouts",
        "purchases",
        "conversion_rate",
        "add_to_cart_rate",
        "checkout_rate",
    ),
}
DIMENSIONS_BY_MODEL: dict[str, tuple[str, ...]] = {
    "orders": ("order__status", "order__region", "order__is_new_customer", "customer"),
    "marketing_roi": (
        "marketing_roi__channel",
        "marketing_roi__campaign_id",
        "marketing_roi__attribution_model",
    ),
    "ad_spend": ("ad_spend__platform", "ad_spend__campaign_id", "ad_spend__campaign_name"),
    "sales_daily": ("sales_daily__category", "sales_daily__region"),
    "funnel": ("funnel__channel",),
}
TIME_GROUPS = ("metric_time__day", "metric_time__week", "metric_time__month")
METRIC_NAMES = tuple(name for names in METRICS_BY_MODEL.values() for name in names)
DIMENSION_NAMES = tuple(name for names in DIMENSIONS_BY_MODEL.values() for name in names)
GROUP_BY_NAMES = (*TIME_GROUPS, *DIMENSION_NAMES)
MODEL_OF_METRIC = {m: model for model, names in METRICS_BY_MODEL.items() for m in names}
FILTER_OPERATORS = ("=", "!=", "in", "not in")


@dataclass(frozen=True)
class MetricQuery:
    """What to ask MetricFlow: metrics, dimensions to group by, an inclusive date range on
    the metrics' own dates, MetricFlow where filters (`{{ Dimension('…') }} = '…'`),
    ordering (`-name` for descending) and a row limit."""

    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    start: date | None = None
    end: date | None = None
    where: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    limit: int | None = None


@dataclass(frozen=True)
class MetricAnswer:
    """MetricFlow's SQL, what it returned, and what it was."""

    sql: str
    columns: list[str]
    rows: list[tuple]
    metrics: tuple[str, ...]
    start: date | None
    end: date | None
    description: str
    query: MetricQuery | None = field(default=None, repr=False)  # as run (defaults applied)


# -- what a language model fills in -----------------------------------------------------


def metric_query_json_schema(
    metric_names: tuple[str, ...] = METRIC_NAMES, group_by_names: tuple[str, ...] = GROUP_BY_NAMES
) -> dict[str, Any]:
    """A strict JSON schema (OpenAI structured outputs) for choosing a metric query.

    Filters are structured (dimension, operator, values) rather than free SQL: Caravan
    writes the MetricFlow where clause itself, quoting the values."""
    nullable_date = {
        "type": ["string", "null"],
        "description": "Inclusive date YYYY-MM-DD, or null for no bound.",
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["metrics", "group_by", "start", "end", "filters", "order_by", "limit"],
        "properties": {
            "metrics": {
                "type": "array",
                "description": "The metrics asked for (names from the metric catalogue).",
                "items": {"type": "string", "enum": list(metric_names)},
                "minItems": 1,
            },
            "group_by": {
                "type": "array",
                "description": "Dimensions to break the metrics down by; empty for totals.",
                "items": {"type": "string", "enum": list(group_by_names)},
            },
            "start": nullable_date,
            "end": nullable_date,
            "filters": {
                "type": "array",
                "description": "Keep only rows whose dimension matches, e.g. "
                "marketing_roi__attribution_model = last_touch.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["dimension", "operator", "values"],
                    "properties": {
                        "dimension": {"type": "string", "enum": list(DIMENSION_NAMES)},
                        "operator": {"type": "string", "enum": list(FILTER_OPERATORS)},
                        "values": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    },
                },
            },
            "order_by": {
                "type": "array",
                "description": "Metrics or group-by names to sort by.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "descending"],
                    "properties": {
                        "name": {"type": "string", "enum": [*metric_names, *group_by_names]},
                        "descending": {"type": "boolean"},
                    },
                },
            },
            "limit": {"type": ["integer", "null"], "description": "At most this many rows."},
        },
    }


METRIC_QUERY_JSON_SCHEMA = metric_query_json_schema()


def metric_query_from_choice(choice: dict[str, Any]) -> MetricQuery:
    """The MetricQuery a model's structured output (METRIC_QUERY_JSON_SCHEMA) chose.

    Raises ValueError naming the field when a name or value is not one the schema allows
    (the schema is checked by the API in strict mode; this is the second wall)."""
    metrics = tuple(choice.get("metrics") or ())
    _require_known("metrics", metrics, METRIC_NAMES)
    group_by = tuple(choice.get("group_by") or ())
    _require_known("group_by", group_by, GROUP_BY_NAMES)
    where = []
    for n, item in enumerate(choice.get("filters") or ()):
        _require_known(f"filters[{n}].dimension", (item.get("dimension"),), DIMENSION_NAMES)
        if item.get("operator") not in FILTER_OPERATORS:
            raise ValueError(f"filters[{n}].operator: {item.get('operator')!r} is not allowed")
        where.append(dimension_filter(item["dimension"], item["operator"], item.get("values")))
    order_by = []
    for n, item in enumerate(choice.get("order_by") or ()):
        _require_known(f"order_by[{n}].name", (item.get("name"),), (*METRIC_NAMES, *GROUP_BY_NAMES))
        order_by.append(("-" if item.get("descending") else "") + item["name"])
    limit = choice.get("limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit: {limit!r} is not a positive integer")
    return MetricQuery(
        metrics=metrics,
        group_by=group_by,
        start=_choice_date("start", choice.get("start")),
        end=_choice_date("end", choice.get("end")),
        where=tuple(where),
        order_by=tuple(order_by),
        limit=limit,
    )


def dimension_filter(dimension: str, operator: str, values: list[str] | tuple[str, ...]) -> str:
    """A MetricFlow where filter on a categorical dimension, its values quoted."""
    if not values:
        raise ValueError(f"filter on {dimension}: no values")
    quoted = [_sql_string(str(value)) for value in values]
    subject = "{{ Dimension('" + dimension + "') }}"
    if operator in ("in", "not in"):
        return f"{subject} {operator} ({', '.join(quoted)})"
    if len(quoted) != 1:
        raise ValueError(f"filter on {dimension}: {operator} takes one value, got {len(quoted)}")
    return f"{subject} {'<>' if operator == '!=' else '='} {quoted[0]}"


def _require_known(what: str, names: tuple, known: tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"{what}: unknown {', '.join(map(repr, unknown))}")


def _choice_date(what: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {value!r} is not a date YYYY-MM-DD") from None


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# -- the semantic manifest --------------------------------------------------------------


def semantic_manifest(settings: Settings) -> dict[str, Any]:
    """dbt's semantic manifest of the project, `dbt parse` run again first when missing or
    when a file of the project is newer."""
    from caravan.warehouse.manifest import project_semantic_manifest

    return project_semantic_manifest(settings)


def metric_catalog(settings: Settings) -> list[dict[str, Any]]:
    """Every metric and dimension with its description, from dbt's semantic manifest: what
    a language model is shown to choose from. Metrics list the dimensions they can be
    grouped by (`metric_time__day|week|month` besides)."""
    manifest = semantic_manifest(settings)
    dimensions_of_model: dict[str, list[str]] = {}
    measure_model: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    for model in manifest["semantic_models"]:
        entity = _primary_entity(model)
        names = []
        for dimension in model["dimensions"]:
            if dimension["type"] == "time":
                continue  # metric_time stands for the model's time dimension
            name = f"{entity}__{dimension['name']}"
            names.append(name)
            entries.append(
                {
                    "kind": "dimension",
                    "name": name,
                    "description": dimension.get("description") or "",
                    "semantic_model": model["name"],
                }
            )
        for entity_spec in model["entities"]:
            if entity_spec["type"] == "foreign":
                names.append(entity_spec["name"])
                entries.append(
                    {
                        "kind": "dimension",
                        "name": entity_spec["name"],
                        "description": entity_spec.get("description") or "",
                        "semantic_model": model["name"],
                    }
                )
        dimensions_of_model[model["name"]] = names
        for measure in model["measures"]:
            measure_model[measure["name"]] = model["name"]
    metrics = {metric["name"]: metric for metric in manifest["metrics"]}
    for metric in manifest["metrics"]:
        models = sorted(_metric_models(metric, metrics, measure_model))
        dimensions = [name for model in models for name in dimensions_of_model[model]]
        entries.append(
            {
                "kind": "metric",
                "name": metric["name"],
                "label": metric.get("label") or metric["name"],
                "description": metric.get("description") or "",
                "type": metric["type"],
                "semantic_models": models,
                "dimensions": [*TIME_GROUPS, *dimensions],
            }
        )
    for name in TIME_GROUPS:
        grain = name.rsplit("__", 1)[1]
        entries.append(
            {
                "kind": "dimension",
                "name": name,
                "description": f"The metric's own date, by {grain} (weeks start on Monday).",
                "semantic_model": None,
            }
        )
    return entries


def _primary_entity(model: dict[str, Any]) -> str:
    for entity in model["entities"]:
        if entity["type"] == "primary":
            return entity["name"]
    return model["primary_entity"]


def _metric_models(
    metric: dict[str, Any], metrics: dict[str, dict], measure_model: dict[str, str]
) -> set[str]:
    params = metric["type_params"]
    if params.get("measure"):
        return {measure_model[params["measure"]["name"]]}
    found: set[str] = set()
    for part in ("numerator", "denominator"):
        if params.get(part):
            found |= _metric_models(metrics[params[part]["name"]], metrics, measure_model)
    for input_metric in params.get("metrics") or ():
        found |= _metric_models(metrics[input_metric["name"]], metrics, measure_model)
    return found


# -- compiling and running --------------------------------------------------------------


def compile_metric_sql(settings: Settings, query: MetricQuery) -> str:
    """MetricFlow's SQL for the query, in the target's dialect, reading `analytics`."""
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    from caravan.warehouse.manifest import semantic_manifest_path

    query = with_default_attribution(query)
    _require_known("metrics", query.metrics, METRIC_NAMES)
    _require_known("group_by", query.group_by, GROUP_BY_NAMES)
    if not query.metrics:
        raise ValueError("metrics: at least one metric is needed")
    where = [*query.where, *_date_filters(query.start, query.end)]
    request = MetricFlowQueryRequest.create(
        metric_names=list(query.metrics),
        group_by_names=list(query.group_by) or None,
        where_constraints=where or None,
        order_by_names=list(query.order_by) or None,
        limit=query.limit,
    )
    manifest_json = semantic_manifest_path(settings)
    semantic_manifest(settings)  # parsed again first if the project changed
    engine = _engine(str(manifest_json), manifest_json.stat().st_mtime, settings.target)
    return engine.explain(request).sql_statement.sql


def run_metric_query(settings: Settings, query: MetricQuery) -> MetricAnswer:
    """The query compiled by MetricFlow and run read-only on the warehouse, through the
    query guard. DuckDB only: on Snowflake and BigQuery, `compile_metric_sql` gives the
    SQL in their dialect, but the guard that runs it is DuckDB's. The guard is the
    assistant's narrow one: a single SELECT over `analytics` (and the time spine), a row
    limit and a timeout."""
    from caravan.query_guard import run_assistant_query

    if settings.target != "duckdb":
        raise NotImplementedError(
            f"CARAVAN_TARGET={settings.target}: the metric path runs on DuckDB's warehouse;"
            " compile_metric_sql gives the SQL in this target's dialect"
        )
    query = with_default_attribution(query)
    sql = compile_metric_sql(settings, query)
    result = run_assistant_query(
        settings.warehouse_path, sql, extra_tables=EXTRA_TABLES, max_rows=query.limit or MAX_ROWS
    )
    rows = [tuple(_plain(value) for value in row) for row in result.rows]
    return MetricAnswer(
        sql=sql,
        columns=list(result.columns),
        rows=rows,
        metrics=query.metrics,
        start=query.start,
        end=query.end,
        description=describe_query(query),
        query=query,
    )


def with_default_attribution(query: MetricQuery) -> MetricQuery:
    """A query of mart_marketing_roi's metrics reads one attribution model (spend repeats
    under every model): last_touch unless it filters or groups by the model already."""
    if not any(MODEL_OF_METRIC.get(metric) == "marketing_roi" for metric in query.metrics):
        return query
    if ATTRIBUTION_DIMENSION in query.group_by or any(
        ATTRIBUTION_DIMENSION in clause for clause in query.where
    ):
        return query
    default = dimension_filter(ATTRIBUTION_DIMENSION, "=", [DEFAULT_ATTRIBUTION_MODEL])
    return replace(query, where=(*query.where, default))


def describe_query(query: MetricQuery) -> str:
    """A short account of the query for people: `net_revenue by channel, 2026-11-01 to
    2026-11-07, where attribution model = last_touch`."""
    text = ", ".join(query.metrics)
    if query.group_by:
        text += " by " + ", ".join(_short(name) for name in query.group_by)
    if query.start and query.end:
        text += (
            f", on {query.start}" if query.start == query.end else f", {query.start} to {query.end}"
        )
    elif query.start:
        text += f", from {query.start}"
    elif query.end:
        text += f", up to {query.end}"
    else:
        text += ", all dates"
    if query.where:
        text += ", where " + " and ".join(_readable_filter(clause) for clause in query.where)
    if query.limit:
        text += f" (top {query.limit})"
    return text


def latest_data_date(settings: Settings) -> date | None:
    """The latest day every fact mart in `analytics` has data for: what "yesterday" and
    "last week" count back from."""
    from caravan.query_guard import run_query

    sql = f"""
        select least(
            (select max(order_date) from {ANALYTICS_SCHEMA}.fct_orders),
            (select max(spend_date) from {ANALYTICS_SCHEMA}.fct_ad_spend_daily),
            (select max(session_date) from {ANALYTICS_SCHEMA}.mart_funnel_daily)
        )"""
    (row,) = run_query(settings.warehouse_path, sql).rows
    return row[0]


@lru_cache(maxsize=4)
def _engine(manifest_path: str, modified: float, target: str):
    """A MetricFlow engine over the semantic manifest (cached while the file is unchanged)."""
    from metricflow.engine.metricflow_engine import MetricFlowEngine
    from metricflow_semantics.model.dbt_manifest_parser import (
        parse_manifest_from_dbt_generated_manifest,
    )
    from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

    manifest = json.loads(Path(manifest_path).read_text())
    pointed = parse_manifest_from_dbt_generated_manifest(json.dumps(relations_for_reads(manifest)))
    return MetricFlowEngine(SemanticManifestLookup(pointed), _CompileOnlyClient(target))


def relations_for_reads(manifest: dict[str, Any]) -> dict[str, Any]:
    """The semantic manifest with each semantic model's relation in `analytics` and the time
    spines' in `semantic`, without a database: the SQL reads the connection's own (the
    DuckDB file, Snowflake's database, BigQuery's project), whatever dbt parsed it with."""
    pointed = json.loads(json.dumps(manifest))
    for model in pointed["semantic_models"]:
        _point(model["node_relation"], ANALYTICS_SCHEMA)
    configuration = pointed.get("project_configuration") or {}
    for spine in configuration.get("time_spines") or ():
        _point(spine["node_relation"], SEMANTIC_SCHEMA)
    for spine in configuration.get("time_spine_table_configurations") or ():
        if "location" in spine:
            spine["location"] = f"{SEMANTIC_SCHEMA}.{spine['location'].rsplit('.', 1)[-1]}"
    return pointed


def _point(relation: dict[str, Any], schema: str) -> None:
    relation["schema_name"] = schema
    relation["database"] = None
    relation["relation_name"] = f"{schema}.{relation['alias']}"


class _CompileOnlyClient:
    """What MetricFlow needs of a SQL client to explain a query: the dialect. It never
    connects; Caravan runs the SQL itself, through the query guard."""

    def __init__(self, target: str) -> None:
        from metricflow.protocols.sql_client import SqlEngine
        from metricflow.sql.render.big_query import BigQuerySqlPlanRenderer
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer
        from metricflow.sql.render.snowflake import SnowflakeSqlPlanRenderer

        engines = {
            "duckdb": (SqlEngine.DUCKDB, DuckDbSqlPlanRenderer),
            "snowflake": (SqlEngine.SNOWFLAKE, SnowflakeSqlPlanRenderer),
            "bigquery": (SqlEngine.BIGQUERY, BigQuerySqlPlanRenderer),
        }
        engine, renderer = engines[target]
        self.sql_engine_type = engine
        self.sql_plan_renderer = renderer()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"

    def _refuse(self, *_: Any, **__: Any) -> None:
        raise RuntimeError("the metric path compiles SQL only; Caravan runs it through its guard")

    query = execute = dry_run = _refuse

    def close(self) -> None:
        pass


def _date_filters(start: date | None, end: date | None) -> list[str]:
    """Inclusive bounds on the metrics' own dates, by day: exact at any grain (MetricFlow's
    time constraint would widen a range to whole weeks or months)."""
    day = "{{ TimeDimension('metric_time', 'day') }}"
    filters = []
    if start is not None:
        filters.append(f"{day} >= '{start.isoformat()}'")
    if end is not None:
        filters.append(f"{day} <= '{end.isoformat()}'")
    return filters


def _plain(value: Any) -> Any:
    """A day's timestamp (DuckDB's date_trunc of a date) as the date it stands for."""
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


def _short(name: str) -> str:
    if name.startswith("metric_time__"):
        return name.removeprefix("metric_time__")
    return name.split("__", 1)[-1].replace("_", " ")


_FILTER_TEXT = re.compile(r"\{\{\s*Dimension\('([a-z_]+)'\)\s*\}\}")


def _readable_filter(clause: str) -> str:
    return _FILTER_TEXT.sub(lambda match: _short(match.group(1)), clause)


# -- the offline parser -----------------------------------------------------------------

# Phrases analysts use for each metric; the longest phrase that matches wins.
_METRIC_PHRASES: dict[str, tuple[str, ...]] = {
    "roas": ("roas", "return on ad spend", "return on advertising spend"),
    "cac": ("cac", "customer acquisition cost", "cost per new customer", "spend per new customer"),
    "cpa": ("cpa", "cost per acquisition", "cost per order", "spend per order"),
    "cpc": ("cpc", "cost per click", "spend per click"),
    "ctr": ("ctr", "click through rate", "clickthrough rate"),
    "average_order_value": ("aov", "average order value", "average basket", "revenue per order"),
    "conversion_rate": ("conversion rate", "purchase rate", "session conversion rate"),
    "add_to_cart_rate": ("add to cart rate", "cart rate"),
    "checkout_rate": ("checkout rate",),
    "attributed_revenue": ("attributed revenue", "attributed sales"),
    "attributed_orders": ("attributed orders",),
    "new_customers": ("new customers", "customers acquired", "acquired customers"),
    "gross_revenue": ("gross revenue", "gross sales"),
    "discount": ("discount", "discounts", "discount amount"),
    "net_revenue": ("net revenue", "net sales", "revenue", "sales", "turnover"),
    "revenue_orders": ("revenue orders", "paid orders", "valid orders"),
    "orders": ("orders", "order count", "number of orders"),
    "units": ("units", "units sold", "items sold"),
    "spend": ("spend", "ad spend", "marketing spend", "advertising spend", "spent", "ad cost"),
    "impressions": ("impressions",),
    "clicks": ("clicks",),
    "conversions": ("conversions", "platform conversions"),
    "sessions": ("sessions", "visits"),
    "add_to_carts": ("add to carts",),
    "checkouts": ("checkouts",),
    "purchases": ("purchases",),
}
# Where a metric has a twin in another semantic model that has the dimension asked for.
_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "net_revenue": ("attributed_revenue", "sales_net_revenue"),
    "gross_revenue": ("sales_gross_revenue",),
    "orders": ("attributed_orders", "category_orders"),
    "revenue_orders": ("attributed_orders", "category_orders"),
    "units": ("units_sold",),
    "spend": ("marketing_spend",),
}
# Dimension words, and the dimension each names in each semantic model.
_DIMENSION_WORDS: dict[str, tuple[str, ...]] = {
    "channel": ("channel", "channels", "marketing channel", "sales channel", "source", "sources"),
    "platform": ("platform", "platforms", "ad platform", "ad platforms", "network"),
    "campaign": ("campaign", "campaigns"),
    "status": ("status", "statuses", "order status"),
    "region": ("region", "regions", "market", "markets"),
    "category": ("category", "categories", "product category", "product categories"),
    "attribution_model": ("attribution model", "attribution models", "model", "models"),
    "customer": ("customer", "customers"),
    "day": ("day", "days", "date", "dates"),
    "week": ("week", "weeks"),
    "month": ("month", "months"),
}
_DIMENSION_IN_MODEL: dict[str, dict[str, str]] = {
    "channel": {
        "marketing_roi": "marketing_roi__channel",
        "funnel": "funnel__channel",
        "ad_spend": "ad_spend__platform",
    },
    "platform": {"ad_spend": "ad_spend__platform", "marketing_roi": "marketing_roi__channel"},
    "campaign": {
        "marketing_roi": "marketing_roi__campaign_id",
        "ad_spend": "ad_spend__campaign_id",
    },
    "status": {"orders": "order__status"},
    "region": {"orders": "order__region", "sales_daily": "sales_daily__region"},
    "category": {"sales_daily": "sales_daily__category"},
    "attribution_model": {"marketing_roi": ATTRIBUTION_DIMENSION},
    "customer": {"orders": "customer"},
}
_TIME_GRAINS = {
    "day": "metric_time__day",
    "week": "metric_time__week",
    "month": "metric_time__month",
}
_GRAIN_ADVERBS = {"daily": "day", "weekly": "week", "monthly": "month"}
# Values named in a question, as filters: (phrases, generic dimension, value).
_VALUE_WORDS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("google ads", "google", "adwords"), "channel", "google_ads"),
    (("meta ads", "meta", "facebook", "instagram", "facebook ads"), "channel", "meta_ads"),
    (("email", "newsletter"), "channel", "email"),
    (("cancelled", "canceled"), "status", "cancelled"),
    (("refunded",), "status", "refunded"),
    (("delivered",), "status", "delivered"),
    (("shipped",), "status", "shipped"),
    (("footwear", "shoes"), "category", "footwear"),
    (("apparel", "clothing"), "category", "apparel"),
    (("accessories",), "category", "accessories"),
    (("us west", "us-west"), "region", "US-West"),
    (("us east", "us-east"), "region", "US-East"),
    (("us central", "us-central"), "region", "US-Central"),
    (("uk", "united kingdom"), "region", "UK"),
    (("canada",), "region", "CA"),
)
_ATTRIBUTION_WORDS: dict[str, tuple[str, ...]] = {
    "first_touch": ("first touch", "first click"),
    "last_touch": ("last touch", "last click"),
    "linear": ("linear",),
    "time_decay": ("time decay",),
    "position_based": ("position based", "u shaped"),
}
_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name} | {
    name.lower(): n for n, name in enumerate(calendar.month_abbr) if name
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE = (
    rf"(\d{{4}}-\d{{2}}-\d{{2}}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?)"
)
# Questions about the platform, not about numbers.
_NOT_A_METRIC_QUESTION = re.compile(
    r"\b(how (do|can|should|would) (i|we|you)|how to|why|what does|what is meant|defin\w*|"
    r"docs?|documentation|issues?|tickets?|forecast\w*|predict\w*|compared?|versus|vs)\b"
)


def parse_metric_question(question: str, as_of: date) -> MetricQuery | None:
    """The metric query a common question asks for, or None when it cannot be sure.

    Offline and deterministic. `as_of` is the latest day with data (`latest_data_date`):
    "yesterday" is that day (a daily batch's data ends the day before today), "last
    week" and "the last 7 days" the seven days ending on it, "last N days" likewise;
    "on 2026-11-03", "on Nov 3", "between X and Y", "from X to Y", "since X", "in
    November", "this month", "last month" as said. Without a time phrase, all dates.
    """
    text = _normalize(question)
    if not text or _NOT_A_METRIC_QUESTION.search(text):
        return None
    window, text = _take_time_range(text, as_of)
    if window is False:
        return None
    start, end = window or (None, None)
    models, grouped_by_model, text = _take_attribution(text)
    ranking, text = _take_ranking(text)
    if ranking is False:
        return None
    groups, text = _take_groups(text)
    if groups is None:
        return None
    if ranking and ranking[0]:
        groups = [*groups, ranking[0]] if ranking[0] not in groups else groups
    if grouped_by_model and "attribution_model" not in groups:
        groups.append("attribution_model")
    values, text = _take_values(text)
    metrics = _find_metrics(text)
    if ranking and ranking[1]:
        metrics = [ranking[1], *[m for m in metrics if m != ranking[1]]]
    if not metrics:
        return None
    needs = [g for g in groups if g not in _TIME_GRAINS] + [generic for generic, _ in values]
    if models:
        needs.append("attribution_model")
    chosen = _choose_metrics(metrics, needs, roi_context=bool(models))
    if chosen is None:
        return None
    model = MODEL_OF_METRIC[chosen[0]]
    group_by = tuple(
        _TIME_GRAINS[g] if g in _TIME_GRAINS else _DIMENSION_IN_MODEL[g][model] for g in groups
    )
    where = [_values_filter(_DIMENSION_IN_MODEL[generic][model], vals) for generic, vals in values]
    if models:
        where.append(_values_filter(ATTRIBUTION_DIMENSION, models))
    order_by: tuple[str, ...] = ()
    limit = None
    if ranking:
        limit = ranking[2]
        order_by = (("-" if ranking[3] else "") + chosen[0],)
    elif any(g in _TIME_GRAINS for g in groups):
        order_by = tuple(name for name in group_by if name.startswith("metric_time__"))
    elif group_by:
        order_by = ("-" + chosen[0],)
    return with_default_attribution(
        MetricQuery(
            metrics=tuple(chosen),
            group_by=group_by,
            start=start,
            end=end,
            where=tuple(where),
            order_by=order_by,
            limit=limit,
        )
    )


def _normalize(question: str) -> str:
    text = question.lower().replace("’", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # last-touch, click-through, add-to-cart
    text = re.sub(r"[?!;\"]|'s\b", " ", text)
    text = re.sub(r"(?<!\d),|,(?!\d)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _phrases(words: tuple[str, ...] | list[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


def _cut(text: str, match: re.Match) -> str:
    return f"{text[: match.start()]} | {text[match.end() :]}"


def _take_time_range(text: str, as_of: date):
    """((start, end) or None, the text without the phrase); False for a phrase it cannot
    read (a date that does not exist, "today": no data yet)."""
    if re.search(r"\b(today|tonight|this morning|tomorrow|next \w+)\b", text):
        return False, text
    rules: list[tuple[str, Any]] = [
        (rf"\b(?:between|from) {_DATE} (?:and|to|through|until|till) {_DATE}", "range"),
        (rf"\bsince {_DATE}", "since"),
        (
            r"\b(?:in |over )?(?:the )?(?:last|past|previous) (\d+) days\b",
            "days",
        ),
        (
            r"\b(?:in |during |over )?(?:the )?(?:last|past|previous) (?:7 days|week|seven days)\b",
            "week",
        ),
        (r"\byesterday\b", "yesterday"),
        (r"\b(?:so far )?this month\b|\bmonth to date\b|\bmtd\b", "this_month"),
        (r"\b(?:in |during )?(?:the )?(?:last|previous|past) month\b", "last_month"),
        (r"\b(?:so far )?this week\b|\bweek to date\b|\bwtd\b", "this_week"),
        (rf"\b(?:in|during|for|over) {_MONTH}(?: (\d{{4}}))?\b(?! \d)", "month"),
        (rf"\b(?:on|for|at)? ?{_DATE}", "day"),
    ]
    for pattern, kind in rules:
        match = re.search(pattern, text)
        if not match:
            continue
        rest = _cut(text, match)
        try:
            window = _window(kind, match, as_of)
        except ValueError:
            return False, text
        if window is None:
            return False, text
        return window, rest
    return None, text


def _window(kind: str, match: re.Match, as_of: date) -> tuple[date, date] | None:
    if kind == "range":
        dates = re.findall(_DATE, match.group(0))
        first, last = (_read_date(found[0], as_of) for found in dates)
        return (first, last) if first <= last else None
    if kind == "since":
        return _read_date(match.group(1), as_of), as_of
    if kind == "days":
        days = int(match.group(1))
        return (as_of - timedelta(days=days - 1), as_of) if days >= 1 else None
    if kind == "week":
        return as_of - timedelta(days=6), as_of
    if kind == "yesterday":
        return as_of, as_of
    if kind == "this_month":
        return as_of.replace(day=1), as_of
    if kind == "last_month":
        last = as_of.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if kind == "this_week":
        return as_of - timedelta(days=as_of.weekday()), as_of
    if kind == "month":
        month = _MONTHS[match.group(1)]
        year = int(match.group(2)) if match.group(2) else as_of.year
        if not match.group(2) and month > as_of.month:
            year -= 1
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    day = _read_date(match.group(1), as_of)
    return day, day


def _read_date(text: str, as_of: date) -> date:
    """2026-11-03, nov 3, november 3rd 2026, 3 november: a year left out is as_of's (the
    year before if that would be after as_of)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    month_name = re.search(_MONTH, text).group(1)
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    day = numbers[0]
    year = numbers[1] if len(numbers) > 1 else None
    found = date(year or as_of.year, _MONTHS[month_name], day)
    if year is None and found > as_of:
        found = found.replace(year=found.year - 1)
    return found


def _take_attribution(text: str) -> tuple[list[str], bool, str]:
    """The attribution models named, whether the question breaks down by model, the rest."""
    grouped = re.search(
        r"\b(?:by|per|across|for each|for every|under each|under every)"
        r" (?:the )?(?:each )?(?:attribution )?models?\b"
        r"|\b(?:each|every|all) attribution models?\b",
        text,
    )
    if grouped:
        text = _cut(text, grouped)
    models = []
    for model, words in _ATTRIBUTION_WORDS.items():
        pattern = (
            rf"\b(?:under |using |with |by |on |in )?(?:the )?(?:{_phrases(words)})"
            r"(?: attribution)?(?: model)?\b"
        )
        match = re.search(pattern, text)
        if match:
            models.append(model)
            text = _cut(text, match)
    text = re.sub(r"\battribution\b", " ", text)
    return models, bool(grouped), text


_DIMENSION_PATTERN = _phrases([w for words in _DIMENSION_WORDS.values() for w in words])
_GENERIC_OF_WORD = {w: g for g, words in _DIMENSION_WORDS.items() for w in words}
_METRIC_OF_PHRASE = {p: m for m, phrases in _METRIC_PHRASES.items() for p in phrases}
_METRIC_PATTERN = _phrases(list(_METRIC_OF_PHRASE))


def _take_ranking(text: str):
    """("top 3 campaigns by spend", "which channel had the most revenue"): (dimension,
    metric or None, limit, descending), or None without one; False if unreadable."""
    top = re.search(
        rf"\b(top|bottom|best|worst) (\d+ )?(?:{_DIMENSION_PATTERN})\b(?: by ({_METRIC_PATTERN}))?",
        text,
    )
    if top:
        word = re.search(rf"\b({_DIMENSION_PATTERN})\b", top.group(0)[len(top.group(1)) :])
        generic = _GENERIC_OF_WORD[word.group(1)]
        if generic in ("day", "week", "month", "attribution_model"):
            return False, text
        metric = _METRIC_OF_PHRASE[top.group(3)] if top.group(3) else None
        limit = int(top.group(2)) if top.group(2) else 1
        return (generic, metric, limit, top.group(1) in ("top", "best")), _cut(text, top)
    which = re.search(rf"\bwhich ({_DIMENSION_PATTERN})\b", text)
    if which:
        most = re.search(r"\b(most|highest|best|largest|biggest|top|more)\b", text)
        least = re.search(r"\b(least|lowest|worst|smallest|fewest|less)\b", text)
        if bool(most) == bool(least):
            return False, text
        generic = _GENERIC_OF_WORD[which.group(1)]
        if generic in ("attribution_model",):
            return False, text
        return (generic, None, 1, bool(most)), _cut(text, which)
    return None, text


def _take_groups(text: str) -> tuple[list[str] | None, str]:
    """The dimension words after by/per/for each/across, and daily/weekly/monthly; None when
    "by" names something that is neither a dimension nor a metric (ranked by)."""
    groups: list[str] = []
    pattern = (
        r"\b(?:by|per|for each|for every|each|every|across|split by|broken down by"
        r"|grouped by|and|,) (?:the |each |every )?"
        rf"({_DIMENSION_PATTERN})\b"
    )
    while True:
        match = re.search(pattern, text)
        if not match:
            break
        generic = _GENERIC_OF_WORD[match.group(1)]
        if generic == "customer" and re.match(r"\s*(acquired|acquisition)", text[match.end() :]):
            break  # "customers acquired": the metric new_customers
        if match.group(0).startswith(("and", ",")) and not groups:
            break  # "spend and clicks": "and" joins dimensions only after a "by"
        if generic not in groups:
            groups.append(generic)
        text = _cut(text, match)
    for adverb, grain in _GRAIN_ADVERBS.items():
        match = re.search(rf"\b{adverb}\b|\b{grain} by {grain}\b", text)
        if match:
            if grain not in groups:
                groups.append(grain)
            text = _cut(text, match)
    # Any other "by"/"per" must be inside a metric's name ("cost per click") or rank by a
    # metric ("ranked by spend"); "revenue by colour" is not a question it can answer.
    inside = [m.span() for m in re.finditer(rf"\b(?:{_METRIC_PATTERN})\b", text)]
    for leftover in re.finditer(r"\b(?:by|per) (?:the )?(\w+(?: \w+)?)", text):
        if any(start <= leftover.start() < end for start, end in inside):
            continue
        if not re.match(rf"(?:{_METRIC_PATTERN})\b", leftover.group(1)):
            return None, text
    return groups, text


def _take_values(text: str) -> tuple[list[tuple[str, list[str]]], str]:
    """Values named as filters ("for google ads", "cancelled orders", "in the UK")."""
    found: dict[str, list[str]] = {}
    for words, generic, value in _VALUE_WORDS:
        match = re.search(rf"\b(?:{_phrases(words)})\b", text)
        if match and value not in found.get(generic, []):
            found.setdefault(generic, []).append(value)
            text = _cut(text, match)
    return list(found.items()), text


def _find_metrics(text: str) -> list[str]:
    metrics: list[str] = []
    for match in re.finditer(rf"\b(?:{_METRIC_PATTERN})\b", text):
        metric = _METRIC_OF_PHRASE[match.group(0)]
        if metric not in metrics:
            metrics.append(metric)
    return metrics


def _choose_metrics(metrics: list[str], needs: list[str], roi_context: bool) -> list[str] | None:
    """Each metric, or its twin in the semantic model that has every dimension needed; one
    model for all when a dimension or filter is needed (MetricFlow joins metrics of
    different models on their dates only)."""
    candidates = []
    for metric in metrics:
        options = [
            name
            for name in (metric, *_ALTERNATIVES.get(metric, ()))
            if all(MODEL_OF_METRIC[name] in _DIMENSION_IN_MODEL[need] for need in needs)
        ]
        if not options:
            return None
        candidates.append(options)
    roi_context = roi_context or any(
        MODEL_OF_METRIC[options[0]] == "marketing_roi" for options in candidates
    )
    if not needs and not roi_context:
        return [options[0] for options in candidates]
    models = [MODEL_OF_METRIC[name] for options in candidates for name in options]
    if roi_context:
        models = ["marketing_roi", *models]
    for model in dict.fromkeys(models):
        chosen = [
            next((name for name in options if MODEL_OF_METRIC[name] == model), None)
            for options in candidates
        ]
        if all(chosen):
            return chosen
    return None if needs else [options[0] for options in candidates]


def _values_filter(dimension: str, values: list[str]) -> str:
    return dimension_filter(dimension, "=" if len(values) == 1 else "in", values)
