"""How Cosmos runs Caravan's dbt project: rendered from a manifest built ahead, dbt in-process."""

from __future__ import annotations

from pathlib import Path

from caravan.settings import Settings
from caravan.warehouse.targets import apply_dbt_environ


def invoke_dbt(settings: Settings, command: str, *args: str) -> None:
    """Run a dbt command on Caravan's project in this process; raise if it fails."""
    from dbt.cli.main import dbtRunner

    project = str(settings.dbt_project_dir)
    result = dbtRunner().invoke(
        [command, *args, "--project-dir", project, "--profiles-dir", project]
    )
    if not result.success:
        raise RuntimeError(f"dbt {command} failed: {result.exception or 'see its output above'}")


def docs_dir(settings: Settings) -> Path:
    return settings.home / "dbt_docs"


def generate_docs(settings: Settings) -> Path:
    """dbt's documentation site, catalogue included (it reads the warehouse), as one
    self-contained HTML file that opens from disk."""
    target = docs_dir(settings)
    apply_dbt_environ()  # the catalogue is read from the warehouse
    invoke_dbt(settings, "docs", "generate", "--static", "--target-path", str(target))
    return target / "static_index.html"


def freeze_garbage_collector(context) -> None:
    """Before a dbt task: keep the objects already alive out of the garbage collector's walk.

    Cosmos runs a full `gc.collect()` after every in-process dbt invocation (to release
    the adapters' semaphores). In a task process that holds Airflow, dbt, pandas and GX
    that walk cost about 0.75 s per model (bench/README.md); frozen, it walks only what
    dbt made.
    """
    import gc

    gc.freeze()


def manifest_path(settings: Settings) -> Path:
    """Built by `make manifest` (`caravan manifest`), never at DAG parse time."""
    return settings.dbt_project_dir / "target" / "manifest.json"


def cosmos_configs(settings: Settings, ds_template: str, pool: str) -> dict:
    """Keyword arguments for a Cosmos DbtTaskGroup.

    `ds_template` renders to the run's ds: dbt's incremental facts read that landing
    partition (macros/incremental.sql). Every dbt task runs in `pool`.
    """
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    return {
        "project_config": ProjectConfig(
            dbt_project_path=settings.dbt_project_dir,
            manifest_path=manifest_path(settings),
            install_dbt_deps=False,
        ),
        "profile_config": ProfileConfig(
            profile_name="caravan",
            target_name=settings.target,
            profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
        ),
        "operator_args": {
            "pool": pool,
            "vars": {"ds": ds_template},
            # The target's credentials reach dbt's profile through the environment.
            "on_execute_callback": [freeze_garbage_collector, apply_dbt_environ],
        },
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            # A test over several models (relationships, reconciliations) runs in its own
            # task once all of them are built, not with the first of them to be built.
            should_detach_multiple_parents_tests=True,
            # The DAG's own Asset says when `analytics` changed; an Asset per model would
            # only add noise (and the lineage parsing that makes them, per task).
            emit_datasets=False,
        ),
    }
