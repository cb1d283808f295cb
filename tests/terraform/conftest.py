"""Fixtures of the Terraform tests: the terraform binary, its environment, and the naming
module's outputs as Terraform plans them."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest
from tf_support import TERRAFORM_DIR, load_role_table_script, missing_tool


@pytest.fixture(scope="session")
def role_table_script() -> ModuleType:
    return load_role_table_script()


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    found = shutil.which("terraform")
    if found is None:
        missing_tool("terraform", "install Terraform 1.9 or later (docs/deploy.md)")
    return found


@pytest.fixture
def tf_env(tmp_path: Path, role_table_script: ModuleType) -> dict[str, str]:
    """Terraform's environment with its data dir and CLI config in tmp_path."""
    return role_table_script.terraform_env(tmp_path)


@pytest.fixture(scope="session")
def naming_outputs(terraform_bin: str, role_table_script: ModuleType) -> dict[str, dict]:
    """The naming module's outputs for each environment's tfvars (dev, prod)."""
    return {
        env: role_table_script.naming_outputs(TERRAFORM_DIR / "envs" / f"{env}.tfvars")
        for env in ("dev", "prod")
    }
