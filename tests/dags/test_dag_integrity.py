"""The DAG folder as Airflow's DagBag sees it, in a fresh subprocess with its own Airflow home.

A subprocess because Airflow reads its configuration at import: the environment
(AIRFLOW_HOME, CARAVAN_HOME, no examples) has to be set before `import airflow`,
and a fresh interpreter is the only honest place to ask what parsing imported.

Parsing needs nothing built ahead: the warehouse DAG's dbt task is one Cosmos
`dbt build`, which parses the project when it runs, not when the DAG is parsed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
VENV_BIN = Path(sys.executable).parent
HEAVY = ("pandas", "pyspark", "great_expectations", "duckdb", "dlt")
DAG_FILES = ("enrich.py", "ingest.py", "transform.py", "warehouse.py")
# A guard against work at parse time (I/O, a dbt parse, a heavy import), not a speed
# measure: a file parses in well under a second on an idle machine, and a busy 2-core CI
# machine must not fail it. Airflow's own limit (core.dagbag_import_timeout) is 30 s.
PARSE_SECONDS = 5.0
WAREHOUSE_POOL = "caravan_warehouse"

# Runs in the subprocess: time each file's parse after Airflow is imported, note what
# each parse imported, then load the whole folder and describe its DAGs as JSON.
PROBE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    import airflow  # noqa: F401  (the import cost is not the DAG files')
    import airflow.sdk  # noqa: F401
    from airflow.dag_processing.dagbag import DagBag

    dags, heavy = Path(sys.argv[1]), sys.argv[2].split(",")
    out = {"heavy_after_airflow": [m for m in heavy if m in sys.modules], "files": {}}
    for name in sys.argv[3].split(","):
        before = set(sys.modules)
        start = time.perf_counter()
        bag = DagBag(dag_folder=str(dags / name))
        out["files"][name] = {
            "seconds": time.perf_counter() - start,
            "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
            "heavy": [m for m in heavy if m in sys.modules and m not in before],
        }
    out["heavy_after_parse"] = [m for m in heavy if m in sys.modules]

    bag = DagBag(dag_folder=str(dags))
    out["errors"] = {str(k): str(v) for k, v in bag.import_errors.items()}
    out["dags"] = {
        dag.dag_id: {
            "file": Path(dag.fileloc).name,
            "tags": sorted(dag.tags),
            "tasks": {
                task.task_id: {
                    "operator": type(task).__name__,
                    "outlets": [getattr(o, "name", str(o)) for o in task.outlets],
                    "retries": task.retries,
                    "backoff": bool(task.retry_exponential_backoff),
                    "timeout": task.execution_timeout.total_seconds()
                    if task.execution_timeout
                    else None,
                    "pool": task.pool,
                }
                for task in dag.tasks
            },
        }
        for dag in bag.dags.values()
    }
    print("PROBE " + json.dumps(out))
    """
)


def environ(home: Path) -> dict[str, str]:
    """A clean environment for a fresh Airflow home (nothing of the caller's Airflow)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CARAVAN_"))}
    env.update(
        {
            "CARAVAN_HOME": str(home),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        }
    )
    return env


@pytest.fixture(scope="session")
def parsed(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("caravan_home")
    return run_probe(PROBE, [str(DAGS), ",".join(HEAVY), ",".join(DAG_FILES)], environ(home), home)


def run_probe(probe: str, args: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Run a probe script in a fresh interpreter; return the JSON it printed after `PROBE `."""
    result = subprocess.run(
        [sys.executable, "-c", probe, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("PROBE "))


def test_the_dag_folder_imports_without_errors(parsed):
    assert parsed["errors"] == {}
    assert {name: info["errors"] for name, info in parsed["files"].items()} == {
        name: {} for name in DAG_FILES
    }


def test_the_dag_ids_are_exactly_the_designed_ones(parsed):
    assert sorted(parsed["dags"]) == [
        "enrich",
        "ingest_crm",
        "ingest_docs",
        "ingest_fx_rates",
        "ingest_google_ads",
        "ingest_issue_tracker",
        "ingest_meta_ads",
        "ingest_sales_ops",
        "ingest_shop_db",
        "ingest_web_analytics",
        "transform",
        "warehouse",
    ]


def test_one_dag_per_file_named_for_it_except_the_ingest_factory(parsed):
    files = {dag_id: info["file"] for dag_id, info in parsed["dags"].items()}
    assert files == {
        **{
            f"ingest_{source}": "ingest.py"
            for source in (
                "google_ads",
                "meta_ads",
                "crm",
                "web_analytics",
                "shop_db",
                "sales_ops",
                "fx_rates",
                "issue_tracker",
                "docs",
            )  # fmt: skip
        },
        "enrich": "enrich.py",
        "transform": "transform.py",
        "warehouse": "warehouse.py",
    }


def test_every_dag_has_tags(parsed):
    for dag_id, info in parsed["dags"].items():
        assert "caravan" in info["tags"], dag_id
        assert len(info["tags"]) >= 2, dag_id


def test_every_task_retries_at_least_twice_with_backoff_and_a_timeout(parsed):
    # No task in dags/ overrides DEFAULT_ARGS' retries=2, backoff and 30 min timeout
    # (gates fail for good at run time with AirflowFailException, not through retries=0).
    tasks = {
        f"{dag_id}.{task_id}": task
        for dag_id, info in parsed["dags"].items()
        for task_id, task in info["tasks"].items()
    }
    assert len(tasks) == 9 * 3 + 2 * 3 + 5 * 3 + 4  # ingest, enrich, transform, warehouse
    assert {name for name, task in tasks.items() if task["retries"] < 2} == set()
    assert {name for name, task in tasks.items() if not task["backoff"]} == set()
    assert {name for name, task in tasks.items() if task["timeout"] is None} == set()


# The entities dags/sources.yaml declares `landing: true`, by source.
LANDED = {
    "shop_db": ("reviews",),
    "issue_tracker": ("issues", "comments"),
    "docs": ("chunks",),
}


def test_each_ingest_dag_extracts_gates_and_publishes_its_source_whole(parsed):
    for source in (
        "google_ads", "meta_ads", "crm", "web_analytics", "shop_db", "sales_ops",
        "issue_tracker", "docs",
    ):  # fmt: skip
        tasks = parsed["dags"][f"ingest_{source}"]["tasks"]
        assert sorted(tasks) == ["extract", "gate", "publish"], source
        # Only the gate writes the warehouse (its results); publish announces the Asset.
        assert tasks["gate"]["pool"] == WAREHOUSE_POOL
        # ... and the typed copies of its `landing` entities, for the warehouse.
        landed = [f"caravan.curated.{source}/{entity}" for entity in LANDED.get(source, ())]
        assert tasks["publish"]["outlets"] == [f"caravan.raw.{source}", *landed]


def test_the_enrich_dag_labels_gates_and_publishes_each_kind_of_text(parsed):
    tasks = parsed["dags"]["enrich"]["tasks"]
    assert sorted(tasks) == sorted(
        f"{step}_{labels}"
        for labels in ("issue_labels", "review_labels")
        for step in ("label", "gate", "publish")
    )
    # The gate records its results in the warehouse; publish announces the labels' Asset.
    assert tasks["gate_review_labels"]["pool"] == WAREHOUSE_POOL
    assert tasks["publish_review_labels"]["outlets"] == ["caravan.curated.enrichment/review_labels"]
    assert tasks["publish_issue_labels"]["outlets"] == ["caravan.curated.enrichment/issue_labels"]


def test_the_warehouse_dag_loads_builds_gates_and_publishes_through_the_one_slot_pool(parsed):
    tasks = parsed["dags"]["warehouse"]["tasks"]
    assert sorted(tasks) == ["dbt_build", "gate", "load", "publish"]
    assert tasks["dbt_build"]["operator"] == "DbtBuildLocalOperator"  # Cosmos, one dbt build
    assert {task_id for task_id, task in tasks.items() if task["pool"] != WAREHOUSE_POOL} == set()
    assert tasks["publish"]["outlets"] == ["caravan.warehouse.analytics"]


def test_airflow_itself_imports_none_of_the_heavy_modules(parsed):
    # Otherwise the checks below would say nothing about the DAG files.
    assert parsed["heavy_after_airflow"] == []


@pytest.mark.parametrize("module", HEAVY)
def test_parsing_the_dag_files_imports_no_heavy_module(parsed, module):
    assert module not in parsed["heavy_after_parse"]


@pytest.mark.parametrize("name", DAG_FILES)
def test_each_dag_file_on_its_own_imports_no_heavy_module(parsed, name):
    assert parsed["files"][name]["heavy"] == []


@pytest.mark.parametrize("name", DAG_FILES)
def test_each_dag_file_parses_without_doing_real_work(parsed, name):
    assert parsed["files"][name]["seconds"] < PARSE_SECONDS
