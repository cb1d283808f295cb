"""docs/architecture.md's worked example, run as written: its job file and its catalogue
entry, added to a copy of the package, make a curated dataset that the transform DAG
runs, gates and publishes, and the warehouse loads."""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.dags.test_dag_integrity import environ, run_probe

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "architecture.md"
DS, DUPLICATED_DS = "2026-11-02", "2026-11-03"
CID = "1234567890"


def ad_group(group_id: str, name: str, status: str, campaign_id: str) -> dict:
    """A record as Google Ads' search API returns it and ingestion writes it to raw."""
    return {
        "adGroup": {
            "resourceName": f"customers/{CID}/adGroups/{group_id}",
            "id": group_id,
            "name": name,
            "status": status,
            "campaign": f"customers/{CID}/campaigns/{campaign_id}",
        },
        "campaign": {"resourceName": f"customers/{CID}/campaigns/{campaign_id}", "id": campaign_id},
    }


RAW = {
    DS: [
        ad_group("301", "Brand - exact", "ENABLED", "11"),
        ad_group("302", "Brand - broad", "PAUSED", "11"),
        ad_group("405", "Running shoes", "ENABLED", "12"),
    ],
    # The same ad group twice: the catalogue key's check must stop it.
    DUPLICATED_DS: [
        ad_group("301", "Brand - exact", "ENABLED", "11"),
        ad_group("301", "Brand - exact", "ENABLED", "11"),
    ],
}
# Worked out by hand from RAW[DS]: ids and names as delivered, status in lower case.
LANDED = [
    ["301", "Brand - exact", "enabled", "11"],
    ["302", "Brand - broad", "paused", "11"],
    ["405", "Running shoes", "enabled", "12"],
]

# Runs in a subprocess whose PYTHONPATH puts the copy of the package first.
PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import caravan
    import spark_jobs.curate_ad_groups  # noqa: F401  (the page's job, in the copy)
    from airflow.dag_processing.dagbag import DagBag
    from caravan.lake import Lake, Partition
    from caravan.pipeline import transform_steps, warehouse_steps
    from caravan.settings import get_settings

    root, dags, raw = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    out = {"package": caravan.__file__}
    bag = DagBag(dag_folder=dags)
    out["errors"] = {str(k): str(v) for k, v in bag.import_errors.items()}
    transform, warehouse = bag.dags["transform"], bag.dags["warehouse"]
    out["tasks"] = sorted(t.task_id for t in transform.tasks if "ad_groups" in t.task_id)
    out["downstream"] = sorted(transform.get_task("run_curate_ad_groups").downstream_task_ids)
    out["outlets"] = [o.name for o in transform.get_task("publish_curate_ad_groups").outlets]

    def assets(condition):  # an Asset, or an all-of (`&`) of conditions
        if not hasattr(condition, "objects"):
            return [condition.name]
        return [name for part in condition.objects for name in assets(part)]

    out["warehouse_waits_for"] = sorted(assets(warehouse.timetable.asset_condition))

    lake = Lake(get_settings().lake_url)
    for ds, records in raw.items():
        partition = Partition("raw", "google_ads", "ad_groups", ds)
        staging = lake.staging_path(partition)
        path, rows = lake.write_jsonl_gz(staging, "part-00000.jsonl.gz", records)
        lake.publish(partition, [(path, rows)], run_id="example", delivered=rows,
                     quarantined=0, schema={}, producer="test")

    ds, duplicated = sorted(raw)
    transform_steps.run_job("curate_ad_groups", [ds, duplicated])
    transform_steps.gate("curate_ad_groups", [ds], "example")
    out["published"] = transform_steps.publish("curate_ad_groups", [ds], "example")["rows"]
    try:
        transform_steps.gate("curate_ad_groups", [duplicated], "example-2")
        out["duplicate_gate"] = "passed"
    except Exception as error:
        out["duplicate_gate"] = type(error).__name__ + ": " + str(error)
    out["loaded"] = warehouse_steps.load(ds, entities=(("marketing", "ad_groups"),))["rows"]

    import duckdb

    with duckdb.connect(str(get_settings().warehouse_path), read_only=True) as con:
        out["landing"] = [list(r) for r in con.execute(
            "select ad_group_id, ad_group_name, status, campaign_id"
            " from landing.marketing__ad_groups where ds = ? order by ad_group_id", [ds]
        ).fetchall()]
        out["results"] = [list(r) for r in con.execute(
            "select ds::varchar, expectation, column_name, success from quality.validation_results"
            " where stage = 'curated' and source = 'marketing' and entity = 'ad_groups'"
            " order by ds, expectation, column_name"
        ).fetchall()]
    print("PROBE " + json.dumps(out))
    """
)


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict:
    job, entry = fenced(PAGE.read_text(), "python")
    root = tmp_path_factory.mktemp("architecture_example")
    shutil.copytree(REPO / "plugins" / "caravan", root / "plugins" / "caravan")
    shutil.copytree(REPO / "spark_jobs", root / "spark_jobs")
    (root / "spark_jobs" / "curate_ad_groups.py").write_text(job)
    catalog = root / "plugins" / "caravan" / "catalog.py"
    text = catalog.read_text()
    start = text.index("CURATED: tuple[Dataset, ...] = (")
    end = text.index("\n)\n", start) + 1  # the line that closes CURATED
    item = textwrap.indent(entry.strip(), "    ") + ",\n"  # one more item of the tuple
    catalog.write_text(text[:end] + item + text[end:])

    env = environ(root / "home") | {"PYTHONPATH": f"{root / 'plugins'}{os.pathsep}{root}"}
    out = run_probe(PROBE, [str(root), str(REPO / "dags"), json.dumps(RAW)], env, root)
    assert out["package"].startswith(str(root)), out["package"]  # the copy, not the repo
    return out


def test_the_transform_dag_runs_gates_and_publishes_the_new_job(ran):
    assert ran["errors"] == {}
    assert ran["tasks"] == [
        "gate_curate_ad_groups",
        "publish_curate_ad_groups",
        "run_curate_ad_groups",
    ]
    assert ran["downstream"] == ["gate_curate_ad_groups"]
    assert ran["outlets"] == ["caravan.curated.marketing/ad_groups"]


def test_the_warehouse_dag_waits_for_the_new_dataset(ran):
    assert "caravan.curated.marketing/ad_groups" in ran["warehouse_waits_for"]
    assert len(ran["warehouse_waits_for"]) == 11  # the 10 curated datasets and this one


def test_the_new_dataset_is_gated_by_its_catalogue_key_published_and_loaded(ran):
    assert ran["published"] == {f"curated/marketing/ad_groups/ds={DS}": 3}
    assert ran["loaded"] == {"landing.marketing__ad_groups": 3}
    assert ran["landing"] == LANDED
    assert ran["results"][:2] == [
        [DS, "expect_column_values_to_be_unique", "ad_group_id", True],
        [DS, "expect_column_values_to_not_be_null", "ad_group_id", True],
    ]


def test_a_duplicated_key_fails_the_gate_and_is_recorded(ran):
    assert "ad_group_id" in ran["duplicate_gate"] and "passed" != ran["duplicate_gate"]
    assert [DUPLICATED_DS, "expect_column_values_to_be_unique", "ad_group_id", False] in ran[
        "results"
    ]
