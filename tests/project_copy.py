"""A copy of the project a test can add a source to, and the environment `caravan` runs it
with: what the tests that walk a new source from YAML to the warehouse share."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def copy_project(project: Path, registry_entry: str) -> Path:
    """`dags/` (its registry with `registry_entry` appended) and `dbt_project/` (without
    dbt's own output) copied to `project`, for CARAVAN_PROJECT_DIR."""
    shutil.copytree(REPO / "dags", project / "dags")
    shutil.copytree(
        REPO / "dbt_project",
        project / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    with (project / "dags" / "sources.yaml").open("a") as registry:
        registry.write("\n" + registry_entry)
    return project


def caravan_environ(home: Path, project: Path, folders: dict[str, Path]) -> dict[str, str]:
    """This process's environment for `caravan` on `home` and `project`, without the
    caller's Airflow, with a file-drop connection per conn id of `folders`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.pop("AIRFLOW_HOME", None)
    env.update(CARAVAN_HOME=str(home), CARAVAN_PROJECT_DIR=str(project))
    for conn_id, folder in folders.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {"conn_type": "fs", "extra": {"path": str(folder)}}
        )
    return env
