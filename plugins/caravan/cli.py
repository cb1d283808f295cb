"""`caravan`: the one entry point, for people and for the Makefile."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from caravan.catalog import ZONES
from caravan.settings import Settings, get_settings

if TYPE_CHECKING:
    from caravan.simulator.faults import Faults

# The demo company's week: fixed, so every demo shows the same figures.
DEMO_START = "2026-11-01"
DEMO_DAYS = 7


def _run(
    settings: Settings,
    start: str,
    end: str,
    dag_ids: tuple[str, ...] | None = None,
    faults: Faults | None = None,
    spark_range: bool = False,
) -> int:
    """Run the chain with a progress line per DAG run; everything else goes to the log."""
    from caravan.lake import date_range
    from caravan.runner import ChainFailed, output_to_file, reported, run_chain

    dates = date_range(start, end)
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    log_file = settings.logs_dir / "run.log"
    print(
        f"Running {len(dates)} day(s), {start} .. {end}, through Airflow (log: {log_file})",
        flush=True,
    )
    began = time.monotonic()
    with output_to_file(log_file) as terminal:

        def progress(result, done: int, total: int) -> None:
            mark = "ok" if result.state == "success" else result.state.upper()
            print(
                f"  [{done:>3}/{total}] {result.ds}  {result.dag_id:<20} {mark:<7}"
                f" {result.seconds:5.1f}s",
                file=terminal,
            )

        def work() -> None:
            run_chain(
                settings,
                dates,
                dag_ids=dag_ids,
                on_result=progress,
                faults=faults,
                spark_range=spark_range,
            )

        if reported(work, terminal, log_file, expected=(ChainFailed,)):
            return 1
    print(f"Done in {time.monotonic() - began:.0f}s.")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from datetime import date

    from caravan.simulator.faults import Faults, Plant

    faults = None
    if args.plant:
        try:
            faults = Faults(plant=Plant.parse(args.plant, date.fromisoformat(args.start)))
        except ValueError as bad:
            print(f"caravan run --plant: {bad}", file=sys.stderr)
            return 2
    dag_ids = tuple(args.dag or ()) or None
    end = args.end or args.start
    return _run(get_settings(), args.start, end, dag_ids, faults, spark_range=args.range)


def cmd_load_history(args: argparse.Namespace) -> int:
    from caravan.pipeline.history import load_history_command

    end = args.end or args.start
    return load_history_command(get_settings(), args.source, args.start, end, args.entity or ())


def cmd_demo(args: argparse.Namespace) -> int:
    from caravan.runner import window
    from caravan.summary import print_summary
    from spark_jobs.common.session import JavaNotFound, require_java

    settings = get_settings()
    try:
        require_java()
    except JavaNotFound as missing:
        print(f"caravan demo: {missing}", file=sys.stderr)
        return 2
    dates = window(args.start, args.days)
    # The demo loads a past week, a backfill: every day's ingest, one range run of the
    # transform (one Spark job per output for the week), every day's warehouse.
    status = _run(settings, dates[0], dates[-1], spark_range=True)
    if status == 0:
        print_summary(settings, dates[0], dates[-1])
    return status


def cmd_sql(args: argparse.Namespace) -> int:
    from caravan.summary import print_query

    return print_query(get_settings(), args.query)


def cmd_ask(args: argparse.Namespace) -> int:
    import json

    import openai

    from caravan.assistant.ask import answer_as_json, ask, format_answer

    question = " ".join(args.question)
    try:
        answer = ask(question, get_settings())
    except ValueError as error:  # an empty question
        print(f"caravan ask: {error}", file=sys.stderr)
        return 2
    except openai.OpenAIError as error:
        print(f"caravan ask: the language model failed: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer_as_json(answer), indent=2))
    else:
        print(format_answer(answer), end="")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from caravan import airflow_env
    from caravan.warehouse.dbt import generate_docs

    settings = get_settings()
    airflow_env.apply(settings)
    page = generate_docs(settings)
    print(f"dbt docs: {page.as_uri()}")
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from caravan.quality.report import EXIT_NOTHING, report

    try:
        return report(
            get_settings(),
            stage=args.stage,
            source=args.source,
            ds=args.ds,
            failures=args.failures,
        )
    except ValueError as error:  # a bad --ds
        print(f"caravan quality: {error}", file=sys.stderr)
        return EXIT_NOTHING


def cmd_catalog(args: argparse.Namespace) -> int:
    from caravan import catalog

    datasets = catalog.datasets(get_settings(), zones=args.zone and (args.zone,))
    print(catalog.table(datasets))
    return 0


def cmd_dbt_source(args: argparse.Namespace) -> int:
    from caravan.lake import Lake
    from caravan.sources.registry import load_source
    from caravan.warehouse.dbt_sources import write_dbt_source

    settings = get_settings()
    source = load_source(settings.dags_dir / "sources.yaml", args.source)
    try:
        written = write_dbt_source(
            settings.dbt_project_dir, Lake(settings.lake_url), source, force=args.force
        )
    except (ValueError, FileExistsError) as error:
        print(f"caravan dbt-source: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path.relative_to(settings.project_dir)}")
    return 0


# `caravan up --celery` on this machine: its PostgreSQL and Redis, unless set otherwise.
LOCAL_AIRFLOW_DB_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/caravan_airflow"
LOCAL_CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"


def cmd_up(args: argparse.Namespace) -> int:
    import os

    from caravan.webserver import serve

    if args.celery:  # in the environment, so every component (and `caravan airflow`) sees it
        os.environ.setdefault("CARAVAN_AIRFLOW_DB_URL", LOCAL_AIRFLOW_DB_URL)
        os.environ.setdefault("CARAVAN_CELERY_BROKER_URL", LOCAL_CELERY_BROKER_URL)
    return serve(get_settings(), args.start, args.days, flower=args.flower)


def cmd_airflow(args: argparse.Namespace) -> int:
    """Airflow's own CLI on Caravan's Airflow home (what `caravan up` runs), e.g. a backfill."""
    import os

    from caravan.airflow_env import airflow_environ

    environ = {**os.environ, **airflow_environ(get_settings())}
    os.execvpe("airflow", ["airflow", *args.airflow_args], environ)
    return 1  # not reached: exec replaces this process


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caravan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="simulate the demo company's week and run the chain")
    demo.add_argument("--start", default=DEMO_START, help=f"first day (default {DEMO_START})")
    demo.add_argument("--days", type=int, default=DEMO_DAYS, help=f"days (default {DEMO_DAYS})")
    demo.set_defaults(func=cmd_demo)

    run = commands.add_parser("run", help="run the chain of DAGs for each date in a range")
    run.add_argument("--start", required=True, help="first ds, YYYY-MM-DD")
    run.add_argument("--end", help="last ds, YYYY-MM-DD (default: start)")
    run.add_argument(
        "--dag",
        action="append",
        metavar="DAG_ID",
        help="run only this DAG (repeatable, in the order given); default: the whole chain",
    )
    run.add_argument(
        "--plant",
        metavar="CLASS[@DAY]",
        help="the simulator serves bad records of CLASS (negative_cost, duplicate_key) from DAY"
        " (default: start) on, which the raw gate must stop (docs/alerts.md)",
    )
    run.add_argument(
        "--range",
        action="store_true",
        help="a backfill: run the transform once over start .. end (one Spark job per job"
        " output), every partition still gated and published whole (docs/transforms.md)",
    )
    run.set_defaults(func=cmd_run)

    history_help = (
        "an initial load: one extract of a source's history over start .. end, split into"
        " daily raw partitions by each record's incremental_field, each gated and published"
        " as its daily run would (docs/adding-a-source.md#history-and-initial-loads)"
    )
    history = commands.add_parser("load-history", help=history_help, description=history_help)
    history.add_argument("--source", required=True, help="the source, as in dags/sources.yaml")
    history.add_argument("--start", required=True, help="first ds, YYYY-MM-DD")
    history.add_argument("--end", help="last ds, YYYY-MM-DD (default: start)")
    history.add_argument(
        "--entity",
        action="append",
        metavar="ENTITY",
        help="load only this entity (repeatable); default: every entity with an incremental_field",
    )
    history.set_defaults(func=cmd_load_history)

    sql_help = (
        "run one read-only query on the warehouse (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE;"
        " no files, no other databases, no settings: exit 2 if refused, README.md)"
    )
    sql = commands.add_parser("sql", help=sql_help, description=sql_help)
    sql.add_argument("query", help="a single SELECT-like statement in DuckDB's SQL")
    sql.set_defaults(func=cmd_sql)

    ask_help = (
        "ask Marketing Jarvis about the numbers (governed metrics), the docs and the issues;"
        " offline without OPENAI_API_KEY (docs/assistant.md)"
    )
    ask = commands.add_parser("ask", help=ask_help, description=ask_help)
    ask.add_argument("question", nargs="+", help='e.g. "how do I add a source?"')
    ask.add_argument("--json", action="store_true", help="print the answer as JSON")
    ask.set_defaults(func=cmd_ask)

    quality = commands.add_parser(
        "quality",
        help="latest quality gate status per stage, source and entity"
        " (exit 1 if one failed an error check, 2 if there is none to show)",
    )
    quality.add_argument("--stage", choices=("raw", "curated", "marts"), help="only this stage")
    quality.add_argument("--source", help="only this source (or curated domain, or marts)")
    quality.add_argument("--ds", help="the gates of this ds (YYYY-MM-DD) instead of the latest")
    quality.add_argument(
        "--failures",
        action="store_true",
        help="list each failing expectation: column, unexpected count, sample keys, Data Docs page",
    )
    quality.set_defaults(func=cmd_quality)

    catalog_help = (
        "every dataset of every zone: what makes it, its key, what it reads"
        " (marts from dbt's manifest; docs/architecture.md)"
    )
    catalog = commands.add_parser("catalog", help=catalog_help, description=catalog_help)
    catalog.add_argument("--zone", choices=ZONES, help="only this zone")
    catalog.set_defaults(func=cmd_catalog)

    dbt_source_help = (
        "write the dbt source and staging models of a registry source's `landing` entities"
        " into dbt_project/models/staging/<source>/ (docs/adding-a-source.md)"
    )
    dbt_source = commands.add_parser(
        "dbt-source", help=dbt_source_help, description=dbt_source_help
    )
    dbt_source.add_argument("source", help="the source's name in dags/sources.yaml")
    dbt_source.add_argument(
        "--force", action="store_true", help="write over files that exist (they are yours)"
    )
    dbt_source.set_defaults(func=cmd_dbt_source)

    up = commands.add_parser(
        "up", help="start Airflow (what airflow standalone runs) with its UI on :8080, on 127.0.0.1"
    )
    up.add_argument("--start", default=DEMO_START, help="first day the simulator serves")
    up.add_argument("--days", type=int, default=DEMO_DAYS, help="days the simulator serves")
    up.add_argument(
        "--celery",
        action="store_true",
        help="the team-server deployment as processes: CeleryExecutor with a worker, metadata"
        f" on PostgreSQL (CARAVAN_AIRFLOW_DB_URL, default {LOCAL_AIRFLOW_DB_URL}), broker on"
        f" Redis (CARAVAN_CELERY_BROKER_URL, default {LOCAL_CELERY_BROKER_URL}); docs/deploy.md",
    )
    up.add_argument("--flower", action="store_true", help="with --celery: Flower on :5555")
    up.set_defaults(func=cmd_up)

    airflow = commands.add_parser(
        "airflow",
        help="Airflow's CLI on Caravan's Airflow home, e.g. `caravan airflow backfill create ...`",
    )
    airflow.add_argument("airflow_args", nargs=argparse.REMAINDER, metavar="ARGS")
    airflow.set_defaults(func=cmd_airflow)

    docs = commands.add_parser(
        "docs", help="generate dbt's docs for the warehouse (run after `caravan demo`)"
    )
    docs.set_defaults(func=cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
