"""How Cosmos runs Caravan's dbt project: one `dbt build` per run, dbt in-process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from caravan.settings import Settings, environment

# The run's ds reaches dbt's incremental models in this environment variable
# (macros/incremental.sql): a `--vars` value that changes every run would make dbt
# parse the whole project again each time instead of the few files that read it.
DS_ENV_VAR = "CARAVAN_DS"
# The warehouse DAG's daily build leaves dbt's unit tests out, as dbt advises for
# production: their inputs are fixed rows, so a daily run proves nothing new (0.6 s of a
# 5.3 s build). They run in the test suite, on a chain's warehouse (tests/e2e).
DAILY_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


@contextmanager
def dbt_profile(settings: Settings) -> Iterator[tuple[list[str], dict[str, str]]]:
    """dbt's profile for the target, for dbt run outside the warehouse DAG: the flags that
    name it and the variables its secrets travel in, from the same `ProfileConfig` as the
    DAG's Cosmos task (`profiles.profile_config`), through the same `ensure_profile`."""
    from caravan.warehouse.profiles import profile_config

    config = profile_config(settings)
    with config.ensure_profile() as (path, environ):
        flags = ["--profiles-dir", str(path.parent), "--profile", config.profile_name]
        yield [*flags, "--target", config.target_name], environ


def invoke_dbt(settings: Settings, command: str, *args: str) -> None:
    """Run a dbt command on Caravan's project in this process, with the target's profile;
    raise if it fails."""
    from dbt.cli.main import dbtRunner

    project = str(settings.dbt_project_dir)
    with dbt_profile(settings) as (profile_flags, environ), environment(environ):
        result = dbtRunner().invoke([command, *args, "--project-dir", project, *profile_flags])
    if not result.success:
        raise RuntimeError(f"dbt {command} failed: {result.exception or 'see its output above'}")


def docs_dir(settings: Settings) -> Path:
    return settings.home / "dbt_docs"


def generate_docs(settings: Settings) -> Path:
    """dbt's documentation site, catalogue included (it reads the warehouse), as one
    self-contained HTML file that opens from disk."""
    target = docs_dir(settings)
    invoke_dbt(settings, "docs", "generate", "--static", "--target-path", str(target))
    return target / "static_index.html"


def freeze_garbage_collector(context) -> None:
    """Before the dbt task: keep the objects already alive out of the garbage collector's walk.

    Cosmos runs a full `gc.collect()` after every in-process dbt invocation (to release
    the adapters' semaphores). In a process that holds Airflow, Spark's client, pandas
    and GX that walk costs seconds; frozen, it walks only what dbt made.
    """
    import gc

    gc.freeze()


def cosmos_build_args(settings: Settings, ds_template: str, pool: str) -> dict:
    """Keyword arguments for Cosmos's DbtBuildLocalOperator: the whole project, its data
    tests included, as one `dbt build` in-process (dbtRunner), as a person runs it.

    One build instead of a task per model: a model then costs what it costs in plain
    `dbt build`, not a dbt start-up of its own (bench/README.md). `ds_template`
    renders to the run's ds: dbt's incremental facts read that landing partition
    (macros/incremental.sql), through DS_ENV_VAR. The task runs in `pool` (it writes
    the warehouse).
    """
    from cosmos.constants import InvocationMode

    from caravan.warehouse.manifest import save_build_manifest
    from caravan.warehouse.profiles import profile_config

    return {
        "project_dir": str(settings.dbt_project_dir),
        # The target's credentials reach dbt through Cosmos's profile mapping, when it runs.
        "profile_config": profile_config(settings),
        "invocation_mode": InvocationMode.DBT_RUNNER,
        "install_deps": False,
        # Where Cosmos keeps dbt's partial-parse state between runs (a build runs in a copy
        # of the project): without it, every run parses the whole project again.
        "cache_dir": settings.home / "cosmos" / "dbt_build",
        "env": {DS_ENV_VAR: ds_template},
        "dbt_cmd_flags": list(DAILY_BUILD_FLAGS),
        "pool": pool,
        # The DAG's own Asset says when `analytics` changed; no Asset per model.
        "emit_datasets": False,
        # The compiled SQL of every model would be one large rendered field of no use.
        "should_store_compiled_sql": False,
        "on_execute_callback": [freeze_garbage_collector],
        # dbt's manifest of this build, kept for the catalogue: the gate and publish after
        # it know the marts without parsing the project again (warehouse/manifest.py).
        "callback": save_build_manifest,
    }
