"""How Cosmos runs Caravan's dbt project: rendered from a manifest built ahead, dbt in-process."""

from __future__ import annotations

from pathlib import Path

from caravan.settings import Settings


def manifest_path(settings: Settings) -> Path:
    """Built by `make manifest` (`caravan manifest`), never at DAG parse time."""
    return settings.dbt_project_dir / "target" / "manifest.json"


def cosmos_configs(settings: Settings) -> dict:
    """Keyword arguments for a Cosmos DbtTaskGroup."""
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
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
        ),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
        ),
    }
