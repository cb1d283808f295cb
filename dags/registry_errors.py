"""
### The source registry's errors, as an import error in the Airflow UI

`dags/ingest.py` builds the `ingest_<source>` DAG of every entry of `dags/sources.yaml`
that parses and leaves out the others, so one bad entry cannot take every source's DAG
down. This file defines no DAG: it raises the left-out entries' errors, each naming the
file, the source and the field, so they show among the UI's import errors (under this
file's name) while the good sources' DAGs run. An error raised by `dags/ingest.py`
itself would mark all of that file's DAGs stale, the good ones with them.
"""

from __future__ import annotations

from pathlib import Path

from caravan.sources.registry import RegistryError, load_registry_lenient

REGISTRY = Path(__file__).with_name("sources.yaml")

_, _errors = load_registry_lenient(REGISTRY)
if _errors:
    raise RegistryError(
        f"{len(_errors)} entr{'y' if len(_errors) == 1 else 'ies'} of {REGISTRY.name} left out"
        " (no ingest DAG until fixed):\n" + "\n".join(f"- {error}" for error in _errors)
    )
