"""Every task of every DAG, the Cosmos dbt task included, alerts when it fails for good."""

from __future__ import annotations

import textwrap

from tests.dags.test_dag_integrity import DAGS, environ, run_probe

PROBE = textwrap.dedent(
    """
    import json, sys
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    print("PROBE " + json.dumps({
        "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "callbacks": {
            f"{dag.dag_id}.{task.task_id}": [
                f"{c.__module__}.{c.__qualname__}" for c in task.on_failure_callback or []
            ]
            for dag in bag.dags.values()
            for task in dag.tasks
        },
    }))
    """
)


def test_every_task_has_the_alerting_failure_callback_once(tmp_path):
    parsed = run_probe(PROBE, [str(DAGS)], environ(tmp_path / "home"), tmp_path)

    assert parsed["errors"] == {}
    callbacks = parsed["callbacks"]
    assert "warehouse.dbt_build" in callbacks  # Cosmos's operator takes DEFAULT_ARGS too
    assert {
        name: found
        for name, found in callbacks.items()
        if found != ["caravan.alerts.on_task_failure"]
    } == {}
