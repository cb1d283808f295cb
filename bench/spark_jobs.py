"""The Spark jobs at scale factor 1, each against an independent DuckDB SQL of its spec,
in both modes: one run per ds, and one range run for all the days.

    .venv/bin/python bench/spark_jobs.py                       # SF1: scale 83, 30 days
    .venv/bin/python bench/spark_jobs.py --scale 2 --days 3    # a quick check
    .venv/bin/python bench/spark_jobs.py --raw-from .caravan/lake   # the demo's days

SF1 is a month of the simulated company at about 100,000 orders: 30 days
(2026-11-01 … 2026-11-30) of the simulator (`caravan.simulator`) at scale 83
(the demo company, scale 1, places about 40 orders a day), which makes millions
of web events. The raw partitions the jobs read are made by the project's own
ingestion: the simulator is started for the 30 days, and for every day and entity
`extract.deliveries` → `ingest.stage` → `ingest.publish` writes the partition and
its manifest into `bench/.data/<scale, days, seed>/lake`, exactly as an
`ingest_<source>` DAG does (minus the GX gate). The shop database is extracted as a
daily run finds it, at the end of each ds (`write_shop_db` for the days up to ds):
written once for the month, it holds every order as it stands at the month's end, so
an order would reach the lake on the day it was delivered, never on the day it was
placed. That is cached: a second run with the same scale, days, start and seed reuses
it (`--regenerate` to redo it); an entity the jobs read that the cached data lacks is
added to it, the rest kept.

Then, for each job in `docs/transforms.md` (in the DAG's order; one in-process
`local[*]` session created once and reused, warmed up by one untimed run):

- Spark, one-day runs (`days`): the job module's `run(spark, lake, ds)` for every ds
  in date order, each timed; its staged outputs are then published with `lake.publish`
  as the transform DAG does (not timed), since `attribute_orders` reads the published
  curated partitions of the other jobs.
- Spark, range (`range`): one `run_range(spark, lake, days)` for all the days, timed;
  then every ds's outputs published the same way.
- DuckDB: SQL written from the spec (not from the Spark code) over the same
  published partitions (the files their manifests list), one ds at a time, writing
  Parquet; timed. `attribute_orders` in DuckDB reads the same published curated
  partitions as the Spark job (Spark's), so its comparison tests attribution alone.
- Each Spark mode's outputs compared with DuckDB's row by row, by key and by partition:
  money exact, doubles within 1e-9, arrays equal, everything else equal; mismatches are
  printed by key with both values.

The DuckDB SQL follows docs/transforms.md as written; a difference is a bug on one side
(or a gap in the spec), to be settled against it.

It prints the Markdown table (rows out, seconds of both Spark modes and of DuckDB,
ratios; Spark's session start-up and warm-up on their own line) and draws
`bench/spark_jobs.svg` (at SF1).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
START = "2026-11-01"
SF1_SCALE = 83.0
SF1_DAYS = 30
# The raw entities the five jobs read.
ENTITIES = [
    ("google_ads", "campaign_performance"),
    ("meta_ads", "insights"),
    ("fx_rates", "rates"),
    ("shop_db", "orders"),
    ("shop_db", "order_items"),
    ("shop_db", "customers"),
    ("web_analytics", "events"),
    ("crm", "contacts"),
    ("sales_ops", "messages"),
    ("google_ads", "campaigns"),
    ("meta_ads", "campaigns"),
    ("shop_db", "products"),
]
RUN_ID = "bench-spark-jobs"


# -- data ---------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    scale: float
    days: list[str]
    seed: int
    folder: Path
    raw_from: str | None = None  # a lake whose raw partitions were copied, not generated

    @property
    def description(self) -> str:
        if self.raw_from:
            return f"the raw partitions of {self.raw_from}"
        return f"scale {self.scale:g}, seed {self.seed}"

    @property
    def lake_url(self) -> str:
        return f"file://{self.folder / 'lake'}"

    @property
    def home(self) -> Path:
        return self.folder / "home"

    @property
    def stamp(self) -> Path:
        return self.folder / "generated.json"

    def key(self) -> dict:
        return {
            "scale": self.scale,
            "days": self.days,
            "seed": self.seed,
            "shop_db": "as of the end of each ds",
        }


def dataset(scale: float, days: int, start: str, seed: int, data_dir: Path) -> Dataset:
    first = date.fromisoformat(start)
    dates = [(first + timedelta(days=n)).isoformat() for n in range(days)]
    name = f"scale{scale:g}-days{days}-from{start}-seed{seed}"
    return Dataset(scale, dates, seed, data_dir / name)


def copied(raw_from: Path, data_dir: Path) -> tuple[Dataset, dict]:
    """The raw partitions of another lake (e.g. the demo's, `.caravan/lake`) as a dataset:
    every day all of ENTITIES are published for, copied afresh with their manifests."""
    from caravan.lake import Lake, Partition

    source = Lake(f"file://{raw_from.resolve()}")
    days = sorted(
        set.intersection(*(set(source.published_dates("raw", s, e)) for s, e in ENTITIES))
    )
    if not days:
        raise SystemExit(f"{raw_from}: no day has every raw entity the jobs read published")
    folder = data_dir / f"copy-of-{raw_from.resolve().parent.name}-{raw_from.name}"
    data = Dataset(0.0, days, 0, folder, raw_from=str(raw_from))
    shutil.rmtree(folder, ignore_errors=True)
    rows: dict[str, dict[str, int]] = {}
    for source_name, entity in ENTITIES:
        for ds in days:
            partition = Partition("raw", source_name, entity, ds)
            shutil.copytree(
                f"{source.root}/{partition.relpath}", folder / "lake" / partition.relpath
            )
            manifest = source.read_manifest(partition)
            rows.setdefault(f"{source_name}/{entity}", {})[ds] = manifest.rows
    return data, {"key": {"raw_from": str(raw_from)}, "seconds": {}, "total_seconds": 0.0,
                  "rows": rows}  # fmt: skip


def prepare(data: Dataset, regenerate: bool) -> dict:
    """The dataset's generation record: generated, or topped up, when not there whole."""
    missing = None if regenerate else missing_entities(data)
    if missing:
        print(f"adding {missing} to {data.folder} ...", file=sys.stderr)
        generate(data, only=missing)
    stamp = None if regenerate else cached(data)
    if stamp is None:
        print(f"generating {data.folder} ...", file=sys.stderr)
        return generate(data)
    print(f"reusing {data.folder} (generated in {stamp['total_seconds']:.0f} s)", file=sys.stderr)
    return stamp


def use_dataset(data: Dataset) -> None:
    """Point Caravan's settings (read from the environment everywhere) at the dataset."""
    os.environ["CARAVAN_HOME"] = str(data.home)
    os.environ["CARAVAN_LAKE_URL"] = data.lake_url
    os.environ["CARAVAN_SEED"] = str(data.seed)
    os.environ.pop("CARAVAN_SPARK_REMOTE", None)
    os.environ["PROVIDERS__ENABLE_AIRFLOW_SECRETS"] = "false"


def missing_entities(data: Dataset) -> list[tuple[str, str]] | None:
    """The entities of ENTITIES not published for every day of a dataset generated for the
    same scale/days/seed ([] when it is whole); None when there is no such dataset."""
    if not data.stamp.exists():
        return None
    stamp = json.loads(data.stamp.read_text())
    if stamp.get("key") != data.key():
        return None
    from caravan.lake import Lake

    lake = Lake(data.lake_url)
    return [
        (source, entity)
        for source, entity in ENTITIES
        if not set(data.days) <= set(lake.published_dates("raw", source, entity))
    ]


def cached(data: Dataset) -> dict | None:
    """The generation record when the dataset is there whole for the same scale/days/seed."""
    if missing_entities(data) != []:
        return None
    return json.loads(data.stamp.read_text())


def generate(data: Dataset, only: list[tuple[str, str]] | None = None) -> dict:
    """The raw partitions of every needed entity and day, by the project's own ingestion.

    `only`: add just these entities to a dataset that lacks them (an entity a job began
    to read after the dataset was made), keeping the rest and its record.
    """
    from caravan.lake import Lake
    from caravan.runner import airflow_connection, simulator_connection_specs
    from caravan.settings import Settings
    from caravan.simulator import running_simulator, write_shop_db
    from caravan.sources import ingest
    from caravan.sources.extract import deliveries
    from caravan.sources.registry import load_registry

    wanted = set(ENTITIES if only is None else only)
    previous = json.loads(data.stamp.read_text()) if only is not None else None
    if only is None:
        if data.folder.exists():
            shutil.rmtree(data.folder)
        data.folder.mkdir(parents=True)
    settings = Settings.from_env()
    registry = load_registry(settings.dags_dir / "sources.yaml")
    lake = Lake(data.lake_url)
    days = [date.fromisoformat(ds) for ds in data.days]
    seconds: dict[str, float] = {}
    rows: dict[str, dict[str, int]] = {}
    began = time.perf_counter()
    with running_simulator(settings, days, scale=data.scale, startup_timeout=600) as simulator:
        seconds["simulator (shop DB, files, API start)"] = time.perf_counter() - began
        connections = simulator_connection_specs(simulator)
        # The shop's database as a daily extract finds it: at the end of ds, not at the end
        # of the month (the simulator writes every order as it stands at the end of the
        # latest day it holds, so one database for the month would show an order placed
        # on the 1st only on the day it was delivered or refunded).
        daily_db = settings.sources_dir / "shop_as_of_ds.db"
        connections["shop_db_default"]["extra"]["sqlalchemy_url"] = f"sqlite:///{daily_db}"

        def conn_of(source):
            return airflow_connection(source.conn_id, connections[source.conn_id])

        def ingest_day(source_name: str, entity_name: str, ds: str) -> None:
            source = registry[source_name]
            entity = source.entities[entity_name]
            label = f"{source_name}/{entity_name}"
            entity_began = time.perf_counter()
            staged = ingest.stage(
                lake, source_name, entity, ds, deliveries(source, entity, conn_of(source), ds)
            )
            ingest.check_quarantine_rate(staged, source.quarantine_threshold)
            manifest = ingest.publish(lake, staged, RUN_ID)
            rows.setdefault(label, {})[ds] = manifest.rows
            seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - entity_began

        for source_name, entity_name in ENTITIES:
            if source_name == "shop_db" or (source_name, entity_name) not in wanted:
                continue
            for ds in data.days:
                ingest_day(source_name, entity_name, ds)
            label = f"{source_name}/{entity_name}"
            print(
                f"  {label}: {sum(rows[label].values()):,} rows in {seconds[label]:.1f} s",
                file=sys.stderr,
            )
        shop_entities = [e for s, e in ENTITIES if s == "shop_db" and (s, e) in wanted]
        if shop_entities:
            daily_db.unlink(missing_ok=True)  # written again day by day from the first
        for n, ds in enumerate(data.days if shop_entities else []):
            rewrite_began = time.perf_counter()
            write_shop_db(f"sqlite:///{daily_db}", simulator.world, days[: n + 1])
            label = "shop DB as of each ds (rewrites)"
            seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - rewrite_began
            for entity_name in shop_entities:
                ingest_day("shop_db", entity_name, ds)
        for label in (
            *(["shop DB as of each ds (rewrites)"] if shop_entities else []),
            *(f"shop_db/{e}" for e in shop_entities),
        ):
            print(f"  {label}: {seconds[label]:.1f} s", file=sys.stderr)
    total = time.perf_counter() - began
    if previous is not None:  # a top-up: the first generation's record, with what it added
        seconds = {**previous["seconds"], **{f"{k} (added)": v for k, v in seconds.items()}}
        rows = {**previous["rows"], **rows}
        total += previous["total_seconds"]
    stamp = {"key": data.key(), "seconds": seconds, "total_seconds": total, "rows": rows}
    data.stamp.write_text(json.dumps(stamp, indent=2))
    return stamp


# -- the jobs and their outputs --------------------------------------------------


@dataclass(frozen=True)
class Output:
    """A partitioned output of a job: where it goes, its key, and its columns (the spec's)."""

    zone: str
    domain: str
    entity: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    optional: bool = False  # written only when there are rows (a quarantine)

    @property
    def name(self) -> str:
        return f"{self.zone}/{self.domain}/{self.entity}"

    def partition(self, ds: str):
        from caravan.lake import Partition

        return Partition(self.zone, self.domain, self.entity, ds)


SPEND_COLUMNS = (
    "spend_date", "platform", "account_id", "campaign_id", "campaign_name", "currency",
    "spend", "impressions", "clicks", "conversions",
)  # fmt: skip
JOBS: dict[str, tuple[Output, ...]] = {
    "unify_ad_spend": (
        Output(
            "curated", "marketing", "ad_spend_daily",
            ("spend_date", "platform", "account_id", "campaign_id"), SPEND_COLUMNS,
        ),
        Output(
            "quarantine", "marketing", "ad_spend_daily",
            ("spend_date", "platform", "account_id", "campaign_id"),
            ("reason", "spend_date", "platform", "account_id", "campaign_id",
             "account_currency", "account_spend"),
            optional=True,
        ),
        Output(
            "curated", "marketing", "campaigns", ("platform", "campaign_id"),
            ("platform", "campaign_id", "campaign_name", "account_id", "status", "objective",
             "created_at"),
        ),
    ),
    "curate_orders": (
        Output(
            "curated", "sales", "orders", ("order_id",),
            ("order_id", "customer_id", "customer_key", "region", "customer_created_at",
             "placed_at", "order_date", "status", "updated_at", "currency", "gross_revenue",
             "discount_amount", "net_revenue", "units", "landing_site", "utm_source",
             "utm_medium", "utm_campaign"),
        ),
        Output(
            "curated", "sales", "order_items", ("order_item_id",),
            ("order_item_id", "order_id", "product_id", "quantity", "unit_price",
             "line_revenue", "order_date", "updated_at"),
        ),
        Output(
            "curated", "sales", "products", ("product_id",),
            ("product_id", "sku", "product_name", "category", "price", "created_at",
             "updated_at"),
        ),
        Output(
            "curated", "customers", "customers", ("customer_id",),
            ("customer_id", "customer_key", "region", "created_at", "updated_at"),
        ),
    ),
    "sessionize_web_events": (
        Output(
            "curated", "web", "sessions", ("session_id",),
            ("session_id", "user_pseudo_id", "user_id", "session_start", "session_end",
             "session_date", "duration_seconds", "events", "events_on_ds", "page_views",
             "landing_page", "utm_source", "utm_medium", "utm_campaign", "channel",
             "campaign_id", "device", "has_add_to_cart", "has_begin_checkout", "has_purchase",
             "transaction_ids"),
        ),
    ),
    "resolve_identities": (
        Output(
            "curated", "customers", "identity_map", ("id_type", "id_value"),
            ("customer_key", "id_type", "id_value", "email", "linked_via"),
        ),
        Output(
            "curated", "sales", "order_events", ("order_id", "event_type"),
            ("order_id", "event_type", "occurred_at", "amount", "currency", "customer_id",
             "first_message_id", "first_app", "first_sent_at", "messages", "apps"),
        ),
    ),
    "attribute_orders": (
        Output(
            "curated", "marketing", "order_attribution",
            ("order_id", "attribution_model", "touchpoint"),
            ("order_id", "order_date", "placed_at", "customer_key", "attribution_model",
             "touchpoints", "touchpoint", "session_id", "touch_at", "channel", "utm_source",
             "utm_medium", "campaign_id", "weight"),
        ),
    ),
}  # fmt: skip
MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
LOOKBACK_DAYS = 30
SESSION_TIMEOUT_MICROS = 30 * 60 * 1_000_000


class MissingHistory(RuntimeError):
    pass


def shift(ds: str, days: int) -> str:
    return (date.fromisoformat(ds) + timedelta(days=days)).isoformat()


def history(published: list[str], first: str, last: str, what: str) -> list[str]:
    """The published days of first..last; a gap after the first published day is an error."""
    known = set(published)
    starts = [d for d in sorted(known) if d <= last]
    if not starts:
        return []
    begin = max(first, starts[0])
    wanted = []
    day = begin
    while day <= last:
        wanted.append(day)
        day = shift(day, 1)
    missing = [d for d in wanted if d not in known]
    if missing:
        raise MissingHistory(f"{what}: not published for {', '.join(missing)}")
    return wanted


# -- Spark ------------------------------------------------------------------------


def staged_parquet(lake, partition) -> list[tuple[str, int]]:
    """The Parquet files a job left in staging with their rows (from the footers), as the
    transform DAG lists them (`transform_steps.staged_parquet`; not imported, since that
    module pulls in Airflow's assets)."""
    import pyarrow.parquet as pq

    files = []
    for path in sorted(lake.fs.glob(f"{lake.staging_path(partition)}/*.parquet")):
        with lake.fs.open(path, "rb") as handle:
            files.append((path, pq.ParquetFile(handle).metadata.num_rows))
    return files


def publish_staged(lake, job: str, output: Output, ds: str) -> int:
    """Publish what a job staged for `output` as the transform DAG's publish task does."""
    import pyarrow.parquet as pq

    partition = output.partition(ds)
    staged = staged_parquet(lake, partition)
    if not staged:
        if output.optional:
            if lake.read_manifest(partition) is not None:
                lake.clear(lake.path(partition))
            return 0
        raise FileNotFoundError(f"{job} ds={ds}: nothing staged for {partition}")
    with lake.fs.open(staged[0][0], "rb") as handle:
        arrow_schema = pq.ParquetFile(handle).schema_arrow
    rows = sum(r for _, r in staged)
    lake.publish(
        partition,
        staged,
        run_id=RUN_ID,
        delivered=rows,
        quarantined=0,
        schema={f.name: str(f.type) for f in arrow_schema},
        producer=f"bench.{job}",
    )
    return rows


def clear_outputs(lake, outputs: list[Output]) -> None:
    for output in outputs:
        for zone in (output.zone, f"staging/{output.zone}"):
            lake.clear(f"{lake.root}/{zone}/{output.domain}/{output.entity}")


def spark_module(job: str):
    """The job's module, or None (with the reason on stderr) when it is not there yet."""
    try:
        module = importlib.import_module(f"spark_jobs.{job}")
    except Exception as error:  # a module being written may fail to import in any way
        print(
            f"  spark_jobs.{job}: cannot import ({type(error).__name__}: {error})", file=sys.stderr
        )
        return None
    if not callable(getattr(module, "run", None)):
        print(f"  spark_jobs.{job}: no run(spark, lake, ds)", file=sys.stderr)
        return None
    return module


MODES = ("days", "range")  # each ds's own `run`, in date order; one `run_range` of them all


@dataclass
class JobResult:
    job: str
    spark_seconds: dict[str, float | None] = field(default_factory=dict)  # by mode
    duckdb_seconds: float | None = None
    spark_rows: dict[str, int] = field(default_factory=dict)
    duckdb_rows: dict[str, int] = field(default_factory=dict)
    spark_seconds_by_ds: dict[str, float] = field(default_factory=dict)  # one-day runs
    duckdb_seconds_by_ds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    differences: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # mode → output


def run_spark(spark, module, job: str, days: list[str], lake, result: JobResult, mode: str) -> None:
    """Stage the job's outputs for every day, one day at a time (`days`) or in one range run
    (`range`), timed; then publish them (not timed) as the transform DAG does."""
    clear_outputs(lake, list(JOBS[job]))
    rows = {output.name: 0 for output in JOBS[job]}
    began = time.perf_counter()
    if mode == "range":
        module.run_range(spark, lake, days)
        result.spark_seconds[mode] = time.perf_counter() - began
        print(f"  spark {job} range of {len(days)} days: {result.spark_seconds[mode]:.1f} s",
              file=sys.stderr)  # fmt: skip
    for ds in days:
        if mode == "days":
            day_began = time.perf_counter()
            module.run(spark, lake, ds)
            result.spark_seconds_by_ds[ds] = time.perf_counter() - day_began
            print(f"  spark {job} ds={ds}: {result.spark_seconds_by_ds[ds]:.1f} s",
                  file=sys.stderr)  # fmt: skip
        for output in JOBS[job]:
            rows[output.name] += publish_staged(lake, job, output, ds)
    if mode == "days":
        result.spark_seconds[mode] = sum(result.spark_seconds_by_ds.values())
    result.spark_rows = rows


def warm_up(spark, lake, days: list[str]) -> float:
    """One untimed run of the first job on the first day: the JVM's first JSON reads and
    Parquet writes (class loading, JIT) would otherwise be charged to whichever job runs
    first. Its outputs are cleared after."""
    module = spark_module("unify_ad_spend")
    if module is None:
        return 0.0
    began = time.perf_counter()
    module.run(spark, lake, days[0])
    seconds = time.perf_counter() - began
    clear_outputs(lake, list(JOBS["unify_ad_spend"]))
    return seconds


# -- DuckDB: the jobs written again from docs/transforms.md ----------------------------

# Raw fields as the JSON lines hold them (numbers the APIs send as strings stay text).
RAW_COLUMNS = {
    ("google_ads", "campaign_performance"): {
        "campaign": 'STRUCT("resourceName" VARCHAR, id VARCHAR, name VARCHAR)',
        "metrics": 'STRUCT("costMicros" VARCHAR, impressions VARCHAR, clicks VARCHAR,'
        " conversions DOUBLE)",
        "segments": "STRUCT(date VARCHAR)",
    },
    ("meta_ads", "insights"): {
        "account_id": "VARCHAR",
        "account_currency": "VARCHAR",
        "campaign_id": "VARCHAR",
        "campaign_name": "VARCHAR",
        "spend": "VARCHAR",
        "impressions": "VARCHAR",
        "clicks": "VARCHAR",
        "actions": "STRUCT(action_type VARCHAR, value VARCHAR)[]",
        "date_start": "VARCHAR",
    },
    ("fx_rates", "rates"): {
        "date": "VARCHAR",
        "currency": "VARCHAR",
        "quote_currency": "VARCHAR",
        "rate": "VARCHAR",
    },
    ("shop_db", "orders"): {
        "order_id": "BIGINT",
        "customer_id": "BIGINT",
        "status": "VARCHAR",
        "currency": "VARCHAR",
        "discount_amount": "VARCHAR",
        "landing_site": "VARCHAR",
        "created_at": "VARCHAR",
        "updated_at": "VARCHAR",
    },
    ("shop_db", "order_items"): {
        "order_item_id": "BIGINT",
        "order_id": "BIGINT",
        "product_id": "BIGINT",
        "quantity": "BIGINT",
        "unit_price": "VARCHAR",
        "created_at": "VARCHAR",
        "updated_at": "VARCHAR",
    },
    ("shop_db", "customers"): {
        "customer_id": "BIGINT",
        "email": "VARCHAR",
        "region": "VARCHAR",
        "created_at": "VARCHAR",
        "updated_at": "VARCHAR",
    },
    ("shop_db", "products"): {
        "product_id": "BIGINT",
        "sku": "VARCHAR",
        "name": "VARCHAR",
        "category": "VARCHAR",
        "price": "VARCHAR",
        "created_at": "VARCHAR",
        "updated_at": "VARCHAR",
    },
    ("google_ads", "campaigns"): {
        "campaign": 'STRUCT("resourceName" VARCHAR, id VARCHAR, name VARCHAR, status VARCHAR,'
        ' "advertisingChannelType" VARCHAR)',
    },
    ("meta_ads", "campaigns"): {
        "id": "VARCHAR",
        "account_id": "VARCHAR",
        "name": "VARCHAR",
        "status": "VARCHAR",
        "objective": "VARCHAR",
        "created_time": "VARCHAR",
    },
    ("web_analytics", "events"): {
        "user_pseudo_id": "VARCHAR",
        "user_id": "VARCHAR",
        "event_timestamp": "BIGINT",
        "event_name": "VARCHAR",
        "event_params": "STRUCT(key VARCHAR, value STRUCT(string_value VARCHAR,"
        " int_value BIGINT, double_value DOUBLE))[]",
        "device": "STRUCT(category VARCHAR)",
        "ecommerce": "STRUCT(transaction_id VARCHAR)",
    },
    ("crm", "contacts"): {"id": "VARCHAR", "properties": "STRUCT(email VARCHAR)"},
    ("sales_ops", "messages"): {
        "message_id": "VARCHAR",
        "app": "VARCHAR",
        "type": "VARCHAR",
        "occurred_at": "VARCHAR",
        "sent_at": "VARCHAR",
        "payload": "STRUCT(order_id BIGINT, customer_id BIGINT, email VARCHAR, amount VARCHAR,"
        " amount_paid VARCHAR, currency VARCHAR)",
    },
}

# A timestamp as ISO text, with or without an offset, as UTC wall-clock time.
MACROS = """
create or replace macro utc(text) as
    cast(cast(text as timestamptz) at time zone 'UTC' as timestamp);
create or replace macro email_key(email) as substr(sha256(lower(trim(email))), 1, 16);
create or replace macro own_key(id_type, id_value) as
    substr(sha256(id_type || ':' || id_value), 1, 16);
create or replace macro normalised(email) as nullif(lower(trim(email)), '');
create or replace macro url_param(url, name) as
    nullif(regexp_extract(url, '[?&]' || name || '=([^&#]*)', 1), '');
"""


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(paths: list[str]) -> str:
    return "[" + ", ".join(sql_text(p) for p in paths) + "]"


class DuckInputs:
    """File lists of published partitions, and of the DuckDB side's own outputs."""

    def __init__(self, lake, folder: Path):
        self.lake = lake
        self.folder = folder

    def raw(self, source: str, entity: str, ds: str) -> str:
        from caravan.lake import Partition

        files = self.lake.published_files(Partition("raw", source, entity, ds))
        if not files:
            raise FileNotFoundError(f"raw/{source}/{entity}/ds={ds} is not published")
        columns = ", ".join(
            f"{sql_text(k)}: {sql_text(v)}" for k, v in RAW_COLUMNS[(source, entity)].items()
        )
        return (
            f"read_json({sql_list(files)}, format = 'newline_delimited',"
            f" columns = {{{columns}}}, hive_partitioning = false)"
        )

    def raw_days(self, source: str, entity: str, first: str, last: str) -> list[str]:
        return history(
            self.lake.published_dates("raw", source, entity), first, last, f"raw/{source}/{entity}"
        )

    def output_path(self, output: Output, ds: str) -> Path:
        return (
            self.folder / output.zone / output.domain / output.entity / f"ds={ds}" / "part.parquet"
        )

    def curated(self, output: Output, first: str, last: str, source: str) -> list[str]:
        """Files of `output` for the published days first..last: Spark's (the lake) or DuckDB's."""
        if source == "spark":
            days = history(
                self.lake.published_dates(output.zone, output.domain, output.entity),
                first, last, output.name,
            )  # fmt: skip
            return [f for d in days for f in self.lake.published_files(output.partition(d))]
        made = sorted(
            p.parent.name[3:] for p in (self.folder / output.name).glob("ds=*/part.parquet")
        )
        days = history(made, first, last, f"duckdb {output.name}")
        return [str(self.output_path(output, d)) for d in days]


def sql_unify_ad_spend(inputs: DuckInputs, ds: str, currency: str) -> dict[str, str]:
    """Written from the Spark job's docstring (transforms.md gives only the table row)."""
    cur = sql_text(currency)
    common = f"""
    with
    performance as (select * from {inputs.raw("google_ads", "campaign_performance", ds)}),
    insights as (select * from {inputs.raw("meta_ads", "insights", ds)}),
    rates as (select * from {inputs.raw("fx_rates", "rates", ds)}),
    google as (
        select
            cast(segments.date as date) as spend_date,
            'google_ads' as platform,
            nullif(regexp_extract(campaign.resourceName, '^customers/(\\d+)/', 1), '')
                as account_id,
            campaign.id as campaign_id,
            campaign.name as campaign_name,
            {cur} as currency,
            cast(cast(metrics.costMicros as decimal(24, 0)) * 0.000001 as decimal(18, 6)) as spend,
            cast(metrics.impressions as bigint) as impressions,
            cast(metrics.clicks as bigint) as clicks,
            cast(metrics.conversions as decimal(18, 4)) as conversions,
        from performance
    ),
    meta_days as (
        select
            cast(date_start as date) as spend_date,
            'meta_ads' as platform,
            account_id,
            campaign_id,
            campaign_name,
            account_currency,
            cast(spend as decimal(18, 2)) as account_spend,
            cast(impressions as bigint) as impressions,
            cast(clicks as bigint) as clicks,
            cast(coalesce(list_sum(list_transform(
                list_filter(actions, action -> action.action_type = 'purchase'),
                action -> cast(action.value as decimal(18, 4))
            )), 0) as decimal(18, 4)) as conversions,
        from insights
    ),
    day_rates as (
        select
            cast(date as date) as spend_date,
            currency as account_currency,
            cast(rate as decimal(18, 6)) as rate,
        from rates
        where quote_currency = {cur}
    ),
    meta_rated as (
        select
            meta_days.*,
            case when meta_days.account_currency = {cur} then cast(1 as decimal(18, 6))
                else day_rates.rate end as applied_rate,
        from meta_days
        left join day_rates using (spend_date, account_currency)
    )
    """
    spend = f"""{common}
    select * from google
    union all
    select
        spend_date, platform, account_id, campaign_id, campaign_name,
        {cur} as currency,
        cast(round(account_spend * applied_rate, 2) as decimal(18, 6)) as spend,
        impressions, clicks, conversions,
    from meta_rated
    where applied_rate is not null
    """
    quarantine = f"""{common}
    select
        'no rate from ' || account_currency || ' to ' || {cur} || ' for '
            || cast(spend_date as varchar) as reason,
        spend_date, platform, account_id, campaign_id, account_currency, account_spend,
    from meta_rated
    where applied_rate is null
    """
    campaigns = f"""
    select
        'google_ads' as platform,
        campaign.id as campaign_id,
        campaign.name as campaign_name,
        nullif(regexp_extract(campaign.resourceName, '^customers/(\\d+)/', 1), '') as account_id,
        lower(campaign.status) as status,
        lower(campaign.advertisingChannelType) as objective,
        null::timestamp as created_at,
    from {inputs.raw("google_ads", "campaigns", ds)}
    union all
    select
        'meta_ads', id, name, account_id, lower(status), lower(objective), utc(created_time),
    from {inputs.raw("meta_ads", "campaigns", ds)}
    """
    spend_output, quarantine_output, campaigns_output = JOBS["unify_ad_spend"]
    return {
        spend_output.name: spend,
        quarantine_output.name: quarantine,
        campaigns_output.name: campaigns,
    }


def sql_curate_orders(inputs: DuckInputs, ds: str) -> dict[str, str]:
    """Written from the Spark job's docstring and transforms.md's table row."""
    sql = f"""
    with
    orders as (select * from {inputs.raw("shop_db", "orders", ds)}),
    items as (select * from {inputs.raw("shop_db", "order_items", ds)}),
    customers as (select * from {inputs.raw("shop_db", "customers", ds)}),
    totals as (
        select
            order_id,
            cast(sum(quantity * cast(unit_price as decimal(18, 2))) as decimal(18, 2)) as gross,
            sum(quantity) as units,
        from items
        group by order_id
    )
    select
        cast(orders.order_id as varchar) as order_id,
        cast(orders.customer_id as varchar) as customer_id,
        email_key(customers.email) as customer_key,
        customers.region,
        utc(customers.created_at) as customer_created_at,
        utc(orders.created_at) as placed_at,
        cast(utc(orders.created_at) as date) as order_date,
        orders.status,
        utc(orders.updated_at) as updated_at,
        orders.currency,
        coalesce(totals.gross, 0.00) as gross_revenue,
        cast(orders.discount_amount as decimal(18, 2)) as discount_amount,
        cast(coalesce(totals.gross, 0.00) - cast(orders.discount_amount as decimal(18, 2))
            as decimal(18, 2)) as net_revenue,
        cast(coalesce(totals.units, 0) as bigint) as units,
        orders.landing_site,
        url_param(orders.landing_site, 'utm_source') as utm_source,
        url_param(orders.landing_site, 'utm_medium') as utm_medium,
        url_param(orders.landing_site, 'utm_campaign') as utm_campaign,
    from orders
    left join totals on totals.order_id = orders.order_id
    left join customers on customers.customer_id = orders.customer_id
    """
    order_items = f"""
    select
        cast(order_item_id as varchar) as order_item_id,
        cast(order_id as varchar) as order_id,
        cast(product_id as varchar) as product_id,
        quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(quantity * cast(unit_price as decimal(18, 2)) as decimal(18, 2)) as line_revenue,
        cast(utc(created_at) as date) as order_date,
        utc(updated_at) as updated_at,
    from {inputs.raw("shop_db", "order_items", ds)}
    """
    # Products and customers: the snapshots as of ds; no updated_at means created_at.
    products = f"""
    select
        cast(product_id as varchar) as product_id, sku, name as product_name, category,
        cast(price as decimal(18, 2)) as price,
        utc(created_at) as created_at,
        coalesce(utc(updated_at), utc(created_at)) as updated_at,
    from {inputs.raw("shop_db", "products", ds)}
    """
    customers = f"""
    select
        cast(customer_id as varchar) as customer_id,
        email_key(email) as customer_key,
        region,
        utc(created_at) as created_at,
        coalesce(utc(updated_at), utc(created_at)) as updated_at,
    from {inputs.raw("shop_db", "customers", ds)}
    """
    orders_output, items_output, products_output, customers_output = JOBS["curate_orders"]
    return {
        orders_output.name: sql,
        items_output.name: order_items,
        products_output.name: products,
        customers_output.name: customers,
    }


def _events_sql(inputs: DuckInputs, ds: str) -> str:
    """The raw events of ds and (when published) ds−1, flagged by whether they are ds's."""
    days = inputs.raw_days("web_analytics", "events", shift(ds, -1), ds)
    return " union all ".join(
        f"select *, {'true' if day == ds else 'false'} as on_ds"
        f" from {inputs.raw('web_analytics', 'events', day)}"
        for day in days
    )


def sql_sessionize_web_events(inputs: DuckInputs, ds: str) -> dict[str, str]:
    """transforms.md § sessionize_web_events. Events are ordered by (event_timestamp,
    event_name): the raw primary key makes that a total order per visitor."""
    sql = f"""
    with
    raw_events as ({_events_sql(inputs, ds)}),
    events as (
        select
            user_pseudo_id,
            event_timestamp as at_micros,
            event_name,
            user_id,
            device.category as device,
            [param.value.string_value for param in event_params
                if param.key = 'page_location'][1] as page_location,
            coalesce(ecommerce.transaction_id, [param.value.string_value for param in event_params
                if param.key = 'transaction_id'][1]) as transaction_id,
            on_ds,
        from raw_events
    ),
    marked as (
        select
            *,
            case when at_micros - lag(at_micros) over visitor < {SESSION_TIMEOUT_MICROS}
                then 0 else 1 end as starts_session,
        from events
        window visitor as (partition by user_pseudo_id order by at_micros, event_name)
    ),
    numbered as (
        select
            *,
            sum(starts_session) over (
                partition by user_pseudo_id order by at_micros, event_name
                rows between unbounded preceding and current row
            ) as session_number,
        from marked
    ),
    sessions as (
        select
            user_pseudo_id,
            min(at_micros) as start_micros,
            max(at_micros) as end_micros,
            arg_min(user_id, (at_micros, event_name)) as user_id,
            arg_min_null(page_location, (at_micros, event_name)) as first_location,
            arg_min_null(device, (at_micros, event_name)) as device,
            count(*) as events,
            count(*) filter (where on_ds) as events_on_ds,
            count(*) filter (where event_name = 'page_view') as page_views,
            bool_or(event_name = 'add_to_cart') as has_add_to_cart,
            bool_or(event_name = 'begin_checkout') as has_begin_checkout,
            bool_or(event_name = 'purchase') as has_purchase,
            coalesce(list_sort(list(transaction_id) filter (
                where event_name = 'purchase' and transaction_id is not null
            )), []) as transaction_ids,
        from numbered
        group by user_pseudo_id, session_number
    ),
    described as (
        select
            *,
            url_param(first_location, 'utm_source') as utm_source,
            url_param(first_location, 'utm_medium') as utm_medium,
            url_param(first_location, 'utm_campaign') as utm_campaign,
        from sessions
        where events_on_ds > 0
    ),
    channelled as (
        select
            *,
            case
                when utm_source = 'google' and utm_medium = 'cpc' then 'google_ads'
                when utm_source = 'facebook' and utm_medium = 'paid_social' then 'meta_ads'
                when utm_medium = 'email' then 'email'
                when utm_source is null then 'direct'
                else 'other'
            end as channel,
        from described
    )
    select
        user_pseudo_id || ':' || cast(start_micros as varchar) as session_id,
        user_pseudo_id,
        user_id,
        make_timestamp(start_micros) as session_start,
        make_timestamp(end_micros) as session_end,
        cast(make_timestamp(start_micros) as date) as session_date,
        (end_micros - start_micros) / 1e6 as duration_seconds,
        events,
        events_on_ds,
        page_views,
        case when first_location is not null then coalesce(nullif(regexp_extract(
            first_location, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)', 1), ''), '/')
        end as landing_page,
        utm_source,
        utm_medium,
        utm_campaign,
        channel,
        case when channel in ('google_ads', 'meta_ads') then utm_campaign end as campaign_id,
        device,
        has_add_to_cart,
        has_begin_checkout,
        has_purchase,
        transaction_ids,
    from channelled
    """
    return {JOBS["sessionize_web_events"][0].name: sql}


def sql_resolve_identities(inputs: DuckInputs, ds: str) -> dict[str, str]:
    """transforms.md § resolve_identities (both outputs)."""
    messages_days = inputs.raw_days("sales_ops", "messages", shift(ds, -1), ds)
    earlier = [day for day in messages_days if day != ds]
    # The day before's snapshot, when published: the map holds the customers new or changed
    # since (all of them on the first day).
    before = [d for d in inputs.raw_days("shop_db", "customers", shift(ds, -1), ds) if d != ds]
    previous = (
        f"select customer_id, email from {inputs.raw('shop_db', 'customers', before[0])}"
        if before
        else "select null::bigint as customer_id, null::varchar as email where false"
    )
    identity = f"""
    with
    customers as (select * from {inputs.raw("shop_db", "customers", ds)}),
    orders as (select * from {inputs.raw("shop_db", "orders", ds)}),
    contacts as (select * from {inputs.raw("crm", "contacts", ds)}),
    messages as (select * from {inputs.raw("sales_ops", "messages", ds)}),
    previous as ({previous}),
    changed as (
        select cast(customers.customer_id as varchar) as id_value,
        from customers
        left join previous on previous.customer_id = customers.customer_id
        where customers.customer_id is not null and (
            previous.customer_id is null
            or normalised(customers.email) is distinct from normalised(previous.email)
        )
        union
        select cast(payload.customer_id as varchar),
        from messages
        where type = 'order_placed' and payload.customer_id is not null
    ),
    raw_events as (select * from {inputs.raw("web_analytics", "events", ds)}),
    shop_rows as (
        select
            cast(customer_id as varchar) as id_value, normalised(email) as email,
            0 as source, null::timestamp as sent_at, null::varchar as message_id,
        from customers
        where customer_id is not null
        union all
        select
            cast(payload.customer_id as varchar), normalised(payload.email),
            1, utc(sent_at), message_id,
        from messages
        where type = 'order_placed' and payload.customer_id is not null
    ),
    shop as (
        -- the snapshot's email first, else the earliest order_placed message's
        select
            id_value,
            arg_min(email, (source, sent_at, message_id)) filter (where email is not null)
                as email,
        from shop_rows
        group by 1
    ),
    crm as (
        select id as id_value, min(normalised(properties.email)) as email,
        from contacts
        where id is not null
        group by 1
    ),
    events as (
        select
            user_pseudo_id,
            event_timestamp as at_micros,
            event_name,
            user_id,
            coalesce(ecommerce.transaction_id, [param.value.string_value for param in event_params
                if param.key = 'transaction_id'][1]) as transaction_id,
        from raw_events
    ),
    order_customers as (
        -- an order's customer: the day's orders, else its order_placed messages
        select order_id, arg_min(customer_id, (source, customer_id)) as customer_id,
        from (
            select
                cast(order_id as varchar) as order_id,
                cast(customer_id as varchar) as customer_id,
                0 as source,
            from orders
            union all
            select cast(payload.order_id as varchar), cast(payload.customer_id as varchar), 1,
            from messages
            where type = 'order_placed'
        )
        where order_id is not null and customer_id is not null
        group by 1
    ),
    links as (
        select user_pseudo_id, at_micros, 0 as via_rank, user_id as customer_id,
        from events
        where user_id is not null
        union all
        select events.user_pseudo_id, events.at_micros, 1, order_customers.customer_id,
        from events
        inner join order_customers on order_customers.order_id = events.transaction_id
        where events.event_name = 'purchase'
    ),
    first_links as (
        -- the earliest event's link; at the same instant user_id before transaction_id
        select
            user_pseudo_id,
            arg_min(customer_id, (at_micros, via_rank, customer_id)) as customer_id,
            arg_min(via_rank, (at_micros, via_rank, customer_id)) as via_rank,
        from links
        group by 1
    ),
    visitors as (
        select
            visitors.user_pseudo_id as id_value,
            first_links.customer_id,
            shop.email,
            case first_links.via_rank
                when 0 then 'user_id'
                when 1 then 'transaction_id'
                else 'none'
            end as linked_via,
        from (select distinct user_pseudo_id from events) as visitors
        left join first_links using (user_pseudo_id)
        left join shop on shop.id_value = first_links.customer_id
    )
    select
        coalesce(email_key(email), own_key('shop_customer', id_value)) as customer_key,
        'shop_customer' as id_type, id_value, email,
        case when email is not null then 'email' else 'none' end as linked_via,
    from shop
    where id_value in (select id_value from changed)
    union all
    select
        coalesce(email_key(email), own_key('crm_contact', id_value)), 'crm_contact', id_value,
        email, case when email is not null then 'email' else 'none' end,
    from crm
    union all
    select
        case
            when email is not null then email_key(email)
            when customer_id is not null then own_key('shop_customer', customer_id)
            else own_key('web_visitor', id_value)
        end,
        'web_visitor', id_value, email, linked_via,
    from visitors
    """
    earlier_facts = (
        " union all ".join(
            f"select payload.order_id, type from {inputs.raw('sales_ops', 'messages', day)}"
            for day in earlier
        )
        if earlier
        else "select null::bigint as order_id, null::varchar as type where false"
    )
    order_events = f"""
    with
    messages as (select * from {inputs.raw("sales_ops", "messages", ds)}),
    reported as ({earlier_facts}),
    new_messages as (
        select
            cast(payload.order_id as varchar) as order_id,
            type as event_type,
            utc(occurred_at) as occurred_at,
            case type
                when 'order_placed' then cast(payload.amount as decimal(18, 2))
                when 'invoice_paid' then cast(payload.amount_paid as decimal(18, 2))
            end as amount,
            payload.currency as currency,
            cast(payload.customer_id as varchar) as customer_id,
            message_id,
            app,
            utc(sent_at) as sent_at,
        from messages
        anti join reported on reported.order_id = messages.payload.order_id
            and reported.type = messages.type
    )
    select
        order_id,
        event_type,
        arg_min_null(occurred_at, (sent_at, message_id)) as occurred_at,
        arg_min_null(amount, (sent_at, message_id)) as amount,
        arg_min_null(currency, (sent_at, message_id)) as currency,
        arg_min_null(customer_id, (sent_at, message_id)) as customer_id,
        arg_min_null(message_id, (sent_at, message_id)) as first_message_id,
        arg_min_null(app, (sent_at, message_id)) as first_app,
        min(sent_at) as first_sent_at,
        count(*) as messages,  -- every message of ds, redelivered copies included
        list_sort(list(distinct app)) as apps,
    from new_messages
    group by order_id, event_type
    """
    identity_output, events_output = JOBS["resolve_identities"]
    return {identity_output.name: identity, events_output.name: order_events}


def sql_attribute_orders(con, inputs: DuckInputs, ds: str, source: str) -> dict[str, str]:
    """transforms.md § attribute_orders, over the published curated partitions of `source`
    (spark: the lake's; duckdb: this script's own outputs). Every order of the ds orders
    partition is attributed; sessions and identities are read from 30 days before the
    oldest of those orders' dates to ds."""
    orders_out = JOBS["curate_orders"][0]
    sessions_out = JOBS["sessionize_web_events"][0]
    identity_out = JOBS["resolve_identities"][0]
    orders_files = inputs.curated(orders_out, ds, ds, source)
    if not orders_files:
        raise FileNotFoundError(f"attribute_orders ds={ds}: {source}'s orders are not there")
    read_orders = f"read_parquet({sql_list(orders_files)}, hive_partitioning = false)"
    oldest = con.execute(f"select min(order_date) from {read_orders}").fetchone()[0]
    first = shift(oldest.isoformat() if oldest else ds, -LOOKBACK_DAYS)
    session_files = inputs.curated(sessions_out, first, ds, source)
    identity_files = inputs.curated(identity_out, first, ds, source)
    if not (session_files and identity_files):
        raise FileNotFoundError(f"attribute_orders ds={ds}: {source}'s inputs are not there")
    ds_of_file = "regexp_extract(filename, '/ds=([0-9]{4}-[0-9]{2}-[0-9]{2})/', 1)"
    models = ", ".join(sql_text(m) for m in MODELS)
    sql = f"""
    with
    orders as (
        select order_id, order_date, cast(placed_at as timestamp) as placed_at, customer_key,
        from {read_orders}
    ),
    session_versions as (
        select *, {ds_of_file} as partition_ds,
        from read_parquet({sql_list(session_files)}, filename = true, hive_partitioning = false)
    ),
    sessions as (
        select
            session_id, user_pseudo_id, cast(session_start as timestamp) as session_start,
            channel, utm_source, utm_medium, campaign_id,
        from session_versions
        qualify row_number() over (partition by session_id order by partition_ds desc) = 1
    ),
    visitors as (
        -- each visitor's latest linked row, else its latest: a link, once made, holds
        select
            id_value as user_pseudo_id,
            arg_max(customer_key, (linked_via <> 'none', {ds_of_file})) as customer_key,
        from read_parquet({sql_list(identity_files)}, filename = true, hive_partitioning = false)
        where id_type = 'web_visitor'
        group by 1
    ),
    touches as (
        select
            orders.*,
            sessions.session_id,
            sessions.session_start as touch_at,
            sessions.channel,
            sessions.utm_source,
            sessions.utm_medium,
            sessions.campaign_id,
        from orders
        inner join visitors on visitors.customer_key = orders.customer_key
        inner join sessions on sessions.user_pseudo_id = visitors.user_pseudo_id
        where sessions.channel <> 'direct'
            and sessions.session_start between orders.placed_at - interval 30 day
                and orders.placed_at
    ),
    ranked as (
        select
            *,
            row_number() over (partition by order_id order by touch_at, session_id)
                as touchpoint,
            count(*) over (partition by order_id) as touchpoints,
            pow(2.0, -((epoch_us(placed_at) - epoch_us(touch_at)) / (7 * 86400 * 1e6)))
                as decay,
        from touches
    ),
    decayed as (
        select *, decay / sum(decay) over (partition by order_id) as decay_weight, from ranked
    ),
    weighted as (
        select
            decayed.*,
            model.attribution_model,
            case model.attribution_model
                when 'first_touch' then case when touchpoint = 1 then 1.0 else 0.0 end
                when 'last_touch' then case when touchpoint = touchpoints then 1.0 else 0.0 end
                when 'linear' then 1.0 / touchpoints
                when 'time_decay' then decay_weight
                when 'position_based' then case
                    when touchpoints = 1 then 1.0
                    when touchpoints = 2 then 0.5
                    when touchpoint = 1 or touchpoint = touchpoints then 0.4
                    else 0.2 / (touchpoints - 2)
                end
            end::double as weight,
        from decayed
        cross join (select unnest([{models}]) as attribution_model) as model
    )
    select
        order_id, order_date, placed_at, customer_key, attribution_model,
        touchpoints, touchpoint, session_id, touch_at, channel, utm_source, utm_medium,
        campaign_id, weight,
    from weighted
    where weight > 0
    union all
    select
        orders.order_id, orders.order_date, orders.placed_at, orders.customer_key,
        model.attribution_model, 0, null, null, null, 'direct', null, null, null, 1.0::double,
    from orders
    cross join (select unnest([{models}]) as attribution_model) as model
    where orders.order_id not in (select order_id from touches)
    """
    return {JOBS["attribute_orders"][0].name: sql}


def duckdb_sql(con, job: str, inputs: DuckInputs, ds: str, attribute_source: str) -> dict[str, str]:
    from caravan.settings import get_settings

    if job == "unify_ad_spend":
        return sql_unify_ad_spend(inputs, ds, get_settings().reporting_currency)
    if job == "attribute_orders":
        return sql_attribute_orders(con, inputs, ds, attribute_source)
    return globals()[f"sql_{job}"](inputs, ds)


def duckdb_connection():
    import duckdb

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(MACROS)
    return con


def run_duckdb(con, inputs: DuckInputs, job: str, days: list[str], source: str, result) -> None:
    for output in JOBS[job]:
        shutil.rmtree(inputs.folder / output.name, ignore_errors=True)
    seconds = 0.0
    rows = {output.name: 0 for output in JOBS[job]}
    outputs = {output.name: output for output in JOBS[job]}
    for ds in days:
        began = time.perf_counter()
        for name, sql in duckdb_sql(con, job, inputs, ds, source).items():
            path = inputs.output_path(outputs[name], ds)
            path.parent.mkdir(parents=True, exist_ok=True)
            written = con.execute(f"copy ({sql}) to {sql_text(str(path))} (format parquet)")
            rows[name] += written.fetchone()[0]
        result.duckdb_seconds_by_ds[ds] = time.perf_counter() - began
        seconds += result.duckdb_seconds_by_ds[ds]
    result.duckdb_seconds = seconds
    result.duckdb_rows = rows


# -- comparing the two outputs ---------------------------------------------------------

EXAMPLES = 5
TOLERANCE = 1e-9
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def _load(con, table: str, files: list[tuple[str, str]]) -> bool:
    """Both sides' partitions in one table with a `_ds` column; False when there are none."""
    con.execute(f"drop table if exists {table}")
    if not files:
        return False
    parts = " union all by name ".join(
        f"select {sql_text(ds)} as _ds, *"
        f" from read_parquet({sql_text(path)}, hive_partitioning = false)"
        for ds, path in files
    )
    con.execute(f"create table {table} as {parts}")
    return True


def _types(con, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"describe {table}").fetchall()}


def _differs(column: str, spark_type: str, duck_type: str) -> str:
    """SQL that is true when the two values of `column` differ (by the benchmark's rules)."""
    left, right = f"spark.{column}", f"duck.{column}"
    both_null = f"({left} is null and {right} is null)"
    one_null = f"(({left} is null) <> ({right} is null))"
    numeric = spark_type.startswith(NUMERIC) and duck_type.startswith(NUMERIC)
    if numeric and ("DOUBLE" in (spark_type, duck_type) or "FLOAT" in (spark_type, duck_type)):
        return (
            f"not {both_null} and ({one_null} or abs(cast({left} as double)"
            f" - cast({right} as double)) > {TOLERANCE})"
        )
    if numeric:  # decimals and integers: exact
        return f"{left} is distinct from {right}"
    if spark_type.startswith("TIMESTAMP") and duck_type.startswith("TIMESTAMP"):
        return f"cast({left} as timestamp) is distinct from cast({right} as timestamp)"
    if spark_type == duck_type:
        return f"{left} is distinct from {right}"
    if spark_type.endswith("[]") and duck_type.endswith("[]"):
        return f"cast({left} as varchar[]) is distinct from cast({right} as varchar[])"
    return f"cast({left} as varchar) is distinct from cast({right} as varchar)"


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def compare(con, output: Output, days: list[str], lake, inputs: DuckInputs) -> list[str]:
    """Differences between Spark's published output and DuckDB's, by key; [] when equal."""
    spark_files = [(d, f) for d in days for f in lake.published_files(output.partition(d))]
    duck_files = [
        (d, str(inputs.output_path(output, d)))
        for d in days
        if inputs.output_path(output, d).exists()
    ]
    has_spark = _load(con, "spark", spark_files)
    has_duck = _load(con, "duck", duck_files)
    if not has_spark and not has_duck:
        return []
    if not has_spark or not has_duck:
        side, other = ("DuckDB", "duck") if has_duck else ("Spark", "spark")
        count = con.execute(f"select count(*) from {other}").fetchone()[0]
        if count == 0:
            return []
        keys = ", ".join(("_ds", *output.key))
        rows = con.execute(f"select {keys} from {other} order by all limit {EXAMPLES}").fetchall()
        return [f"{count} rows only in {side} (the other wrote none), e.g. {rows}"]
    notes = []
    spark_types, duck_types = _types(con, "spark"), _types(con, "duck")
    for column in output.columns:
        for name, types in (("Spark", spark_types), ("DuckDB", duck_types)):
            if column not in types:
                notes.append(f"column {column} missing in {name}'s output")
    for column in spark_types:
        if column != "_ds" and column not in output.columns:
            notes.append(f"Spark's output has a column the spec does not name: {column}")
    columns = [c for c in output.columns if c in spark_types and c in duck_types]
    for column in columns:
        if spark_types[column] != duck_types[column]:
            notes.append(
                f"type of {column}: Spark {spark_types[column]}, DuckDB {duck_types[column]}"
            )
    key = ("_ds", *output.key)
    missing_key = [k for k in output.key if k not in spark_types or k not in duck_types]
    if missing_key:
        notes.append(f"cannot match rows: key column(s) {missing_key} missing")
        return notes
    for side in ("spark", "duck"):
        dupes = con.execute(
            f"select {', '.join(key)}, count(*) as n from {side} group by all having n > 1"
            f" order by all limit {EXAMPLES}"
        ).fetchall()
        if dupes:
            total = con.execute(
                f"select count(*) from (select 1 from {side} group by {', '.join(key)}"
                f" having count(*) > 1)"
            ).fetchone()[0]
            notes.append(f"{side}: {total} keys repeated, e.g. {dupes}")
    on = " and ".join(f"spark.{k} is not distinct from duck.{k}" for k in key)
    select_key = ", ".join(f"coalesce(spark.{k}, duck.{k}) as {k}" for k in key)
    con.execute(
        f"create or replace temp table joined as select {select_key},"
        f" spark.{key[0]} is not null as in_spark, duck.{key[0]} is not null as in_duck,"
        + ", ".join(
            f" spark.{c} as s_{i}, duck.{c} as d_{i},"
            f" ({_differs(c, spark_types[c], duck_types[c])}) as x_{i}"
            for i, c in enumerate(columns)
        )
        + f" from spark full outer join duck on {on}"
    )
    key_list = ", ".join(key)
    for side, flag in (
        ("Spark", "in_spark and not in_duck"),
        ("DuckDB", "in_duck and not in_spark"),
    ):
        count = con.execute(f"select count(*) from joined where {flag}").fetchone()[0]
        if count:
            rows = con.execute(
                f"select {key_list} from joined where {flag} order by all limit {EXAMPLES}"
            ).fetchall()
            notes.append(
                f"{count} rows only in {side}'s output,"
                f" e.g. (_ds, {', '.join(output.key)}) = {rows}"
            )
    for i, column in enumerate(columns):
        count = con.execute(
            f"select count(*) from joined where in_spark and in_duck and x_{i}"
        ).fetchone()[0]
        if count:
            examples = con.execute(
                f"select {key_list}, s_{i}, d_{i} from joined where in_spark and in_duck and x_{i}"
                f" order by all limit {EXAMPLES}"
            ).fetchall()
            shown = "; ".join(
                f"{dict(zip(key, row[:-2], strict=True))}: Spark {_show(row[-2])},"
                f" DuckDB {_show(row[-1])}"
                for row in examples
            )
            notes.append(f"{column} differs in {count} rows, e.g. {shown}")
    return notes


# -- reporting -------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ratio(spark: float | None, duck: float | None) -> str:
    return f"{spark / duck:.1f}×" if spark and duck else "—"


def _equal(diffs: list[str] | None) -> str:
    if diffs is None:
        return "not compared"
    value_diffs = [d for d in diffs if not d.startswith("type of ")]
    if value_diffs:
        kinds = len(value_diffs)
        return f"**no** ({kinds} kind{'s' if kinds > 1 else ''} of difference)"
    return "yes (column types differ)" if diffs else "yes"


def markdown(
    results: list[JobResult], startup: float | None, warm: float | None, stamp: dict, data: Dataset
) -> str:
    rows_of = stamp["rows"]
    lines = [
        f"{len(data.days)} days ({data.days[0]} … {data.days[-1]}), {data.description}",
        "",
        "| raw entity | rows (all days) |",
        "|---|---:|",
        *(f"| {name} | {sum(days.values()):,} |" for name, days in rows_of.items()),
        "",
        f"Spark session start-up (once, not in the job times): {_seconds(startup)} s;"
        f" warm-up (one untimed unify_ad_spend run of the first day): {_seconds(warm)} s",
        "",
        "| job | output | rows out | Spark one-day runs, Σ s | Spark range run s"
        " | DuckDB s | one-day / DuckDB | range / DuckDB | outputs equal (one-day; range) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        days, ranged = result.spark_seconds.get("days"), result.spark_seconds.get("range")
        for n, output in enumerate(JOBS[result.job]):
            if (
                output.optional
                and not result.spark_rows.get(output.name)
                and not result.duckdb_rows.get(output.name)
            ):
                continue
            spark_rows = result.spark_rows.get(output.name)
            duck_rows = result.duckdb_rows.get(output.name)
            known = spark_rows if spark_rows is not None else duck_rows
            rows = "—" if known is None else f"{known:,}"
            if None not in (spark_rows, duck_rows) and spark_rows != duck_rows:
                rows = f"{spark_rows:,} (DuckDB {duck_rows:,})"
            equal = "; ".join(
                _equal(result.differences.get(mode, {}).get(output.name))
                for mode in MODES
                if mode in result.spark_seconds
            )
            first = n == 0
            cells = [
                _seconds(days),
                _seconds(ranged),
                _seconds(result.duckdb_seconds),
                _ratio(days, result.duckdb_seconds),
                _ratio(ranged, result.duckdb_seconds),
            ]
            lines.append(
                f"| {result.job if first else ''} | {output.name.removeprefix('curated/')} |"
                f" {rows} | {' | '.join(cells) if first else ' | '.join([''] * len(cells))} |"
                f" {equal} |"
            )
    total = {
        key: sum(value for r in results if (value := pick(r)) is not None)
        for key, pick in (
            ("days", lambda r: r.spark_seconds.get("days")),
            ("range", lambda r: r.spark_seconds.get("range")),
            ("duck", lambda r: r.duckdb_seconds),
        )
    }
    lines.append(
        f"| all five | | | {total['days']:.2f} | {total['range']:.2f} | {total['duck']:.2f} |"
        f" {_ratio(total['days'], total['duck'])} | {_ratio(total['range'], total['duck'])} | |"
    )
    return "\n".join(lines)


def differences_text(results: list[JobResult]) -> str:
    lines = []
    for result in results:
        for note in result.notes:
            lines.append(f"- {result.job}: {note}")
        for mode, by_output in result.differences.items():
            for name, diffs in by_output.items():
                for diff in diffs:
                    lines.append(f"- {result.job} ({mode}) → {name}: {diff}")
    return "\n".join(lines) if lines else "No differences."


def svg_chart(results: list[JobResult], startup: float | None, title: str) -> str:
    """A horizontal bar chart (seconds per job: Spark's one-day runs summed, Spark's range
    run, DuckDB), written by hand: matplotlib is not in the project's venv."""
    engines = {
        "Spark, one-day runs": "#e25a1c",
        "Spark, one range run": "#f2a93b",
        "DuckDB": "#3b6ea5",
    }
    bars = [
        (r.job, [r.spark_seconds.get("days"), r.spark_seconds.get("range"), r.duckdb_seconds])
        for r in results
    ]
    if startup is not None:
        bars.insert(0, ("Spark session start-up", [startup, None, None]))
    top = max([v for _, values in bars for v in values if v] or [1.0])
    label_w, plot_w, bar_h, pad = 190, 480, 15, 40
    row_h = bar_h * len(engines) + 14
    height = pad * 2 + row_h * len(bars) + 30
    width = label_w + plot_w + 90
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{_xml(title)}</text>',
    ]
    for i, (label, values) in enumerate(bars):
        y = pad + i * row_h
        out.append(f'<text x="{label_w - 8}" y="{y + 20}" text-anchor="end">{_xml(label)}</text>')
        for j, (value, colour) in enumerate(zip(values, engines.values(), strict=True)):
            if value is None:
                continue
            w = max(1.0, plot_w * value / top)
            by = y + 4 + j * (bar_h + 2)
            out.append(
                f'<rect x="{label_w}" y="{by}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>'
            )
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{by + 12}">{value:.2f} s</text>')
    legend_y = height - 22
    for j, (engine, colour) in enumerate(engines.items()):
        x = label_w + j * 170 - 150
        out.append(f'<rect x="{x}" y="{legend_y}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{legend_y + 11}">{engine}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=SF1_SCALE, help="simulator scale (SF1: 83)")
    parser.add_argument("--days", type=int, default=SF1_DAYS, help="days from --start (SF1: 30)")
    parser.add_argument("--start", default=START, help="first ds")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--jobs", default=",".join(JOBS), help="comma-separated, in this order")
    parser.add_argument("--data-dir", type=Path, default=BENCH / ".data")
    parser.add_argument("--regenerate", action="store_true", help="ignore the cached data")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--no-spark", action="store_true", help="DuckDB only (no comparison)")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="Spark's modes, comma-separated: days (each ds's own run), range (one run_range)",
    )
    parser.add_argument(
        "--raw-from",
        type=Path,
        help="a lake folder whose raw partitions to run on instead of generated data"
        " (e.g. .caravan/lake after `make demo`)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        help="SVG path (default: bench/spark_jobs.svg at SF1, else the data folder)",
    )
    args = parser.parse_args()
    jobs = [j.strip() for j in args.jobs.split(",") if j.strip()]
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        parser.error(f"unknown job(s) {unknown}; known: {', '.join(JOBS)}")

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: one or more of {', '.join(MODES)}")
    modes = [m for m in MODES if m in modes]  # one-day runs first (see below)

    # `spark_jobs` is the checkout's package, not this script (bench/ is first on the path).
    sys.path.insert(0, str(ROOT))
    if args.raw_from is not None:
        data, stamp = copied(args.raw_from, args.data_dir.resolve())
        use_dataset(data)
        print(f"copied {len(data.days)} days of {args.raw_from} to {data.folder}", file=sys.stderr)
    else:
        data = dataset(args.scale, args.days, args.start, args.seed, args.data_dir.resolve())
        use_dataset(data)
        stamp = prepare(data, args.regenerate)
    if args.generate_only:
        for name, seconds in stamp["seconds"].items():
            rows = sum(stamp["rows"].get(name.removesuffix(" (added)"), {}).values())
            print(f"| {name} | {rows:,} | {seconds:.1f} |")
        return

    from caravan.lake import Lake

    lake = Lake(data.lake_url)
    inputs = DuckInputs(lake, data.folder / "duckdb")
    con = duckdb_connection()
    spark, startup, warm = None, None, None
    results: list[JobResult] = []
    for job in jobs:
        result = JobResult(job)
        results.append(result)
        module = None if args.no_spark else spark_module(job)
        if module is not None and spark is None:
            from spark_jobs.common.session import get_session

            began = time.perf_counter()
            # C2 too: a month at SF1 is big enough for its compiles to pay (get_session).
            spark = get_session("bench-spark-jobs", full_jit=True)
            spark.range(1).count()  # the JVM and the first job's machinery are up
            startup = time.perf_counter() - began
            warm = warm_up(spark, lake, data.days)
        if module is None:
            result.notes.append(
                "Spark not run (--no-spark, or the job is missing): outputs not compared"
            )
        # One-day runs first: DuckDB's attribution reads what Spark published of the others.
        for mode in [m for m in modes if module is not None]:
            if mode == "range" and not callable(getattr(module, "run_range", None)):
                result.notes.append("no run_range(spark, lake, dates): range not run")
                continue
            try:
                run_spark(spark, module, job, data.days, lake, result, mode)
            except Exception as error:
                result.spark_seconds[mode] = None
                result.notes.append(
                    f"Spark {mode} run failed: {type(error).__name__}: {str(error)[:500]}"
                )
                continue
            if result.duckdb_seconds is None and not any(
                "DuckDB run failed" in note for note in result.notes
            ):
                try:
                    run_duckdb(con, inputs, job, data.days, "spark", result)
                except Exception as error:
                    result.notes.append(
                        f"DuckDB run failed: {type(error).__name__}: {str(error)[:500]}"
                    )
            if result.duckdb_seconds is not None:
                result.differences[mode] = {
                    output.name: compare(con, output, data.days, lake, inputs)
                    for output in JOBS[job]
                }
        if module is None or not any(result.spark_seconds.values()):
            source = "spark" if job != "attribute_orders" else "duckdb"
            if job == "attribute_orders":
                result.notes.append("DuckDB attribution read DuckDB's own upstream outputs")
            try:
                run_duckdb(con, inputs, job, data.days, source, result)
            except Exception as error:
                result.notes.append(
                    f"DuckDB run failed: {type(error).__name__}: {str(error)[:500]}"
                )
        print(
            f"{job}: Spark one-day runs {_seconds(result.spark_seconds.get('days'))} s, range"
            f" {_seconds(result.spark_seconds.get('range'))} s, DuckDB"
            f" {_seconds(result.duckdb_seconds)} s",
            file=sys.stderr,
        )

    report = markdown(results, startup, warm, stamp, data)
    print(report)
    print("\n## Differences\n")
    print(differences_text(results))
    sf1 = args.scale == SF1_SCALE and args.days == SF1_DAYS and args.raw_from is None
    plot = args.plot or (BENCH / "spark_jobs.svg" if sf1 else data.folder / "spark_jobs.svg")
    title = f"Spark jobs vs DuckDB SQL, {data.description}, {len(data.days)} days (seconds)"
    plot.write_text(svg_chart(results, startup, title))
    (data.folder / "results.json").write_text(
        json.dumps(
            {
                "startup_seconds": startup,
                "warm_up_seconds": warm,
                "jobs": [result.__dict__ for result in results],
                "generation": stamp,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nchart: {plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
