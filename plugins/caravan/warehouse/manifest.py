"""dbt's manifest of Caravan's project: what the catalogue knows about the marts.

The manifest is dbt's own account of the project (models, their folders, tests and
lineage). Caravan keeps the latest one in `<CARAVAN_HOME>/dbt/manifest.json`: the
warehouse DAG's build saves its own there (`save_build_manifest`), and when none is
there, or a file of the project is newer, `dbt parse` writes it again (about 6 s). The
same parse keeps dbt's semantic manifest (the semantic models and metrics `caravan ask`
queries) beside it, `<CARAVAN_HOME>/dbt/semantic_manifest.json`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from caravan.settings import Settings

MARTS_FOLDER = "marts"  # models/marts: the models the marts gate checks and analytics gets
# The project's files dbt reads to write the manifest (profiles.yml and target/ excluded).
PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "snapshots", "seeds", "tests")


def manifest_path(settings: Settings) -> Path:
    return settings.home / "dbt" / "manifest.json"


def semantic_manifest_path(settings: Settings) -> Path:
    return settings.home / "dbt" / "semantic_manifest.json"


def project_semantic_manifest(settings: Settings) -> dict[str, Any]:
    """The project's semantic manifest, written again first when a file of the project
    changed (with the manifest: one `dbt parse` writes both)."""
    path = semantic_manifest_path(settings)
    if not _is_fresh(path, settings.dbt_project_dir):
        _parse(settings, manifest_path(settings))
    return json.loads(path.read_text())


def project_manifest(settings: Settings) -> dict[str, Any]:
    """The project's manifest, written again first when a file of the project changed."""
    path = manifest_path(settings)
    if not _is_fresh(path, settings.dbt_project_dir):
        _parse(settings, path)
    return json.loads(path.read_text())


def save_build_manifest(project_dir: str, **_: Any) -> None:
    """Cosmos's callback after the warehouse DAG's build: keep the manifest dbt wrote for
    it, so that the gate and publish after it know the marts without parsing again."""
    from caravan.settings import get_settings

    built = Path(project_dir) / "target" / "manifest.json"
    if built.exists():
        _replace(built.read_bytes(), manifest_path(get_settings()))


def mart_models(manifest: dict[str, Any]) -> list[tuple[str, str, tuple, tuple]]:
    """The models under models/marts, by name: each as (its folder there, name, key, the
    curated datasets its lineage starts from, as `curated/<domain>/<entity>`)."""
    nodes = manifest["nodes"]
    marts = sorted((node for node in nodes.values() if _is_mart(node)), key=lambda n: n["name"])
    return [
        (
            node["fqn"][2] if len(node["fqn"]) > 3 else MARTS_FOLDER,  # a model in marts/ itself
            node["name"],
            _key(node, nodes),
            _landing_reads(node["unique_id"], manifest),
        )
        for node in marts
    ]


def _is_mart(node: dict[str, Any]) -> bool:
    return (
        node["resource_type"] == "model"
        and node["fqn"][1:2] == [MARTS_FOLDER]
        and node["config"].get("enabled", True)
    )


def _key(node: dict[str, Any], nodes: dict[str, Any]) -> tuple[str, ...]:
    """dbt's primary key (a unique, not-null column), else the columns of the model's
    `caravan_unique_combination` test, else its incremental unique_key."""
    if node.get("primary_key"):
        return tuple(node["primary_key"])
    for test in nodes.values():
        metadata = test.get("test_metadata") or {}
        if (
            test.get("attached_node") == node["unique_id"]
            and metadata.get("name") == "caravan_unique_combination"
        ):
            return tuple(metadata["kwargs"]["columns"])
    unique_key = node["config"].get("unique_key") or ()
    return (unique_key,) if isinstance(unique_key, str) else tuple(unique_key)


def _landing_reads(unique_id: str, manifest: dict[str, Any]) -> tuple[str, ...]:
    """The curated datasets a model is built from: the landing sources up its lineage."""
    found: set[str] = set()
    seen: set[str] = set()
    pending = [unique_id]
    while pending:
        node_id = pending.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        source = manifest["sources"].get(node_id)
        if source is not None:
            if source["schema"] == "landing":  # identifier <domain>__<entity>
                domain, _, entity = source["identifier"].partition("__")
                found.add(f"curated/{domain}/{entity}")
            continue
        node = manifest["nodes"].get(node_id)
        if node is not None:
            pending.extend(node["depends_on"]["nodes"])
    return tuple(sorted(found))


def _is_fresh(path: Path, project: Path) -> bool:
    """The manifest exists and no file of the project is newer."""
    if not path.exists():
        return False
    written = path.stat().st_mtime
    for part in PROJECT_PARTS:
        top = project / part
        if top.is_file() and top.stat().st_mtime > written:
            return False
        for folder, _, names in os.walk(top):
            if any(Path(folder, name).stat().st_mtime > written for name in names):
                return False
    return True


def _parse(settings: Settings, path: Path) -> None:
    """`dbt parse` into a folder of its own, then the manifest (and the semantic manifest
    beside it) into place, each in one rename: processes that parse at the same time never
    read a half-written file."""
    project = str(settings.dbt_project_dir)
    # The project's own profile, DuckDB's output: parsing connects to nothing, and the
    # models and tests are the same on every target.
    env = os.environ | {"CARAVAN_HOME": str(settings.home), "CARAVAN_TARGET": "duckdb"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as target:
        dbt = [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]
        result = subprocess.run(
            [
                *dbt,
                "parse",
                "--quiet",
                "--project-dir",
                project,
                "--profiles-dir",
                project,
                "--target-path",
                target,
            ],  # fmt: skip
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
        _replace(Path(target, "manifest.json").read_bytes(), path)
        semantic = Path(target, "semantic_manifest.json")
        _replace(semantic.read_bytes(), path.with_name(semantic.name))


def _replace(content: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(content)
    os.replace(handle.name, path)
