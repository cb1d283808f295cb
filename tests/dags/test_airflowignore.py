"""dags/.airflowignore as Airflow itself reads it: its file discovery and its DagBag.

Airflow parses every .py file of the DAG folder, at any depth, that mentions both "airflow"
and "dag". A copy of dags/ gets stray files that do (a helper module, a test, a Jupyter
checkpoint copy of a DAG file, a bytecode cache) and is parsed with the ignore file and,
to show what it keeps out, without it: in a fresh interpreter with its own Airflow home,
as tests/dags/test_dag_integrity.py parses the folder.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from caravan.airflow_env import airflow_environ
from caravan.settings import Settings
from tests.dags.test_dag_integrity import DAGS, environ, run_probe

# Runs in the subprocess: for each folder, what Airflow's walk yields (the ignore file
# applied), which of those files the DAG processor would parse, and what DagBag made of
# them. Paths relative to the folder.
PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    from airflow._shared.module_loading import find_path_from_directory
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.file import list_py_file_paths

    syntax = conf.get("core", "dag_ignore_file_syntax")
    out = {"syntax": syntax, "folders": {}}
    for name, folder in zip(sys.argv[1].split(","), sys.argv[2:]):
        root = Path(folder)
        relative = lambda paths: sorted(Path(p).relative_to(root).as_posix() for p in paths)
        info = {
            "walked": relative(find_path_from_directory(folder, ".airflowignore", syntax)),
            "parsed": relative(list_py_file_paths(folder)),
        }
        if name != "dags":
            bag = DagBag(dag_folder=folder)
            info["errors"] = {
                Path(k).relative_to(root).as_posix(): str(v) for k, v in bag.import_errors.items()
            }
            info["dag_files"] = relative({dag.fileloc for dag in bag.dags.values()})
        out["folders"][name] = info
    print("PROBE " + json.dumps(out))
    """
)

# The files Airflow must parse (registry_errors.py defines no DAG: its import error is how
# a bad registry entry shows), and those that define the DAGs.
PARSED_FILES = ["enrich.py", "ingest.py", "registry_errors.py", "transform.py", "warehouse.py"]
DAG_FILES = ["enrich.py", "ingest.py", "transform.py", "warehouse.py"]


def stray(name: str) -> str:
    """A stray file's source: it mentions "airflow" and "dag", so only the ignore file keeps
    Airflow from importing it, and it fails on import, so an import shows as an error."""
    return (
        '"""Not a DAG file (from airflow.sdk import dag)."""\n'
        f'raise RuntimeError("{name} was parsed")\n'
    )


def stray_copy(folder: Path, ignore_file: bool) -> Path:
    """dags/ (its files, not its caches) with stray files added; without .airflowignore
    when `ignore_file` is false."""
    shutil.copytree(DAGS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    if not ignore_file:
        (folder / ".airflowignore").unlink()
    (folder / "_helpers.py").write_text(stray("_helpers.py"))
    (folder / "test_transform.py").write_text(stray("test_transform.py"))
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "cached.py").write_text(stray("__pycache__/cached.py"))
    (folder / ".ipynb_checkpoints").mkdir()
    shutil.copy(DAGS / "transform.py", folder / ".ipynb_checkpoints" / "transform-checkpoint.py")
    return folder


@pytest.fixture(scope="module")
def probed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("airflowignore")
    folders = {
        "dags": DAGS,
        "ignored": stray_copy(tmp / "ignored", ignore_file=True),
        "unignored": stray_copy(tmp / "unignored", ignore_file=False),
    }
    args = [",".join(folders), *map(str, folders.values())]
    return run_probe(PROBE, args, environ(tmp / "home"), tmp)


def test_airflow_reads_ignore_files_as_globs_in_caravans_configuration(probed):
    assert probed["syntax"] == "glob"
    # ...and Caravan's own Airflow configuration keeps that default.
    settings = Settings.from_env({"CARAVAN_HOME": "/nonexistent/caravan"})
    assert not any("DAG_IGNORE_FILE_SYNTAX" in name for name in airflow_environ(settings))


def test_airflow_walks_and_parses_exactly_the_dag_files_of_dags(probed):
    dags = probed["folders"]["dags"]
    assert dags["parsed"] == PARSED_FILES
    # Besides them only the registry is walked, not a bytecode cache parsing left there.
    assert dags["walked"] == sorted([*PARSED_FILES, "sources.yaml"])


def test_stray_files_matched_by_the_ignore_file_are_not_parsed(probed):
    ignored = probed["folders"]["ignored"]
    assert ignored["walked"] == sorted([*PARSED_FILES, "sources.yaml"])
    assert ignored["parsed"] == PARSED_FILES
    assert ignored["errors"] == {}
    assert ignored["dag_files"] == DAG_FILES


def test_without_the_ignore_file_the_stray_files_are_parsed_and_fail(probed):
    unignored = probed["folders"]["unignored"]
    strays = ["__pycache__/cached.py", "_helpers.py", "test_transform.py"]
    checkpoint = ".ipynb_checkpoints/transform-checkpoint.py"
    assert unignored["parsed"] == sorted([*PARSED_FILES, *strays, checkpoint])
    errors = unignored["errors"]
    assert sorted(errors) == sorted([*strays, checkpoint])
    for name in strays:
        assert f"RuntimeError: {name} was parsed" in errors[name]
    # The checkpoint's copy of transform.py defines the transform DAG a second time.
    assert errors[checkpoint].startswith(
        "AirflowDagDuplicatedIdException: Ignoring DAG transform from"
    )
    assert unignored["dag_files"] == DAG_FILES
