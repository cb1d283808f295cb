"""The transform DAG's run tasks: in the task by default, spark-submit when a connection is set."""

from __future__ import annotations

import textwrap

import pytest

from tests.dags.test_dag_integrity import DAGS, HEAVY, environ, run_probe

PROBE = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    dag = bag.dags["transform"]
    print("PROBE " + json.dumps({
        "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "run_tasks": {
            t.task_id: type(t).__name__ for t in dag.tasks if t.task_id.startswith("run_")
        },
        "heavy": [m for m in sys.argv[2].split(",") if m in sys.modules],
        "attribute_after": sorted(dag.task_dict["run_attribute_orders"].upstream_task_ids),
    }))
    """
)
JOBS = (
    "unify_ad_spend",
    "curate_orders",
    "sessionize_web_events",
    "resolve_identities",
    "attribute_orders",
)


def parse_transform(tmp_path, **settings) -> dict:
    env = {**environ(tmp_path), **settings}
    return run_probe(PROBE, [str(DAGS / "transform.py"), ",".join(HEAVY)], env, tmp_path)


@pytest.mark.parametrize(
    ("settings", "operator"),
    [
        ({}, "_PythonDecoratedOperator"),
        ({"CARAVAN_SPARK_SUBMIT_CONN_ID": "spark_cluster"}, "CaravanSparkSubmitOperator"),
    ],
)
def test_each_job_runs_in_the_mode_the_environment_names(tmp_path, settings, operator):
    parsed = parse_transform(tmp_path, **settings)
    assert parsed["errors"] == {}
    assert parsed["run_tasks"] == {f"run_{job}": operator for job in JOBS}
    assert parsed["heavy"] == []  # neither mode imports pyspark when the DAG is parsed
    assert parsed["attribute_after"] == [
        "publish_curate_orders",
        "publish_resolve_identities",
        "publish_sessionize_web_events",
    ]
