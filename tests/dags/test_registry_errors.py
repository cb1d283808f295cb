"""One bad registry entry leaves out its own ingest DAG only: the DAG folder, as Airflow's
DagBag sees it, still holds the good sources' DAGs, and the bad entry's error shows as an
import error (of dags/registry_errors.py) naming the file, the source and what is wrong.

A copy of the DAG files in a temporary folder with a registry written here, parsed in a
fresh interpreter with its own Airflow home (as tests/dags/test_dag_integrity.py does).
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from tests.dags.test_dag_integrity import DAGS, environ, run_probe

PROBE = textwrap.dedent(
    """
    import json, logging, sys
    from pathlib import Path

    from airflow.dag_processing.dagbag import DagBag

    logged = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.ERROR and "ingest DAG not built" in record.getMessage():
                logged.append(record.getMessage())

    logging.getLogger().addHandler(Collect())
    bag = DagBag(dag_folder=sys.argv[1])
    print("PROBE " + json.dumps({
        "dags": sorted(bag.dags),
        "errors": {Path(k).name: str(v) for k, v in bag.import_errors.items()},
        "logged": logged,
    }))
    """
)

GOOD = """\
good:
  kind: file_drop
  conn_id: good_default
  entities:
    rows:
      files: rows_${ds}.jsonl
      primary_key: id
"""
BAD_NAME = """\
'../evil':
  kind: file_drop
  conn_id: evil_default
  entities:
    rows:
      files: rows_${ds}.jsonl
      primary_key: id
"""
BAD_GLOB = """\
snoop:
  kind: file_drop
  conn_id: snoop_default
  entities:
    passwd:
      files: ../../../../etc/passwd
      primary_key: id
"""
NAME_ERROR = (
    "source '../evil': the source name is not a safe identifier ^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
    " (lower-case letters and digits, words joined by single underscores): it becomes the"
    " DAG id, lake folders and table names"
)
GLOB_ERROR = (
    "source 'snoop': entity 'passwd': files '../../../../etc/passwd' climbs out of the"
    " connection's folder with '..'"
)


def parse(tmp_path: Path, registry: str) -> tuple[dict, Path]:
    """The DAG files in a folder of their own with `registry` as sources.yaml, parsed."""
    dags = tmp_path / "dags"
    dags.mkdir()
    for name in ("ingest.py", "registry_errors.py"):
        shutil.copy(DAGS / name, dags)
    (dags / "sources.yaml").write_text(registry)
    return run_probe(PROBE, [str(dags)], environ(tmp_path / "home"), tmp_path), dags


def test_a_bad_source_name_leaves_the_good_sources_dag_and_reports_the_bad_entry(tmp_path):
    parsed, dags = parse(tmp_path, BAD_NAME + GOOD)

    assert parsed["dags"] == ["ingest_good"]
    # The error is registry_errors.py's alone: ingest.py imports cleanly, so its DAGs stay.
    assert list(parsed["errors"]) == ["registry_errors.py"]
    error = parsed["errors"]["registry_errors.py"]
    assert "1 entry of sources.yaml left out (no ingest DAG until fixed):" in error
    assert f"- {dags / 'sources.yaml'}: {NAME_ERROR}" in error
    # And in the DAG processor's log of dags/ingest.py.
    assert parsed["logged"] == [f"ingest DAG not built: {dags / 'sources.yaml'}: {NAME_ERROR}"]


def test_every_bad_entry_is_reported_and_every_good_one_built(tmp_path):
    parsed, dags = parse(tmp_path, BAD_NAME + GOOD + BAD_GLOB)

    assert parsed["dags"] == ["ingest_good"]
    assert list(parsed["errors"]) == ["registry_errors.py"]
    error = parsed["errors"]["registry_errors.py"]
    assert "2 entries of sources.yaml left out (no ingest DAG until fixed):" in error
    assert (
        f"- {dags / 'sources.yaml'}: {NAME_ERROR}\n- {dags / 'sources.yaml'}: {GLOB_ERROR}" in error
    )


def test_a_good_registry_reports_nothing(tmp_path):
    parsed, _ = parse(tmp_path, GOOD)

    assert parsed["dags"] == ["ingest_good"]
    assert parsed["errors"] == {}
    assert parsed["logged"] == []
