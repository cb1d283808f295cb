"""What the Terraform tests share: paths, the tools, and the role-table script."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "terraform"
NAMING_DIR = TERRAFORM_DIR / "modules" / "naming"
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def missing_tool(what: str, how: str) -> None:
    """Without a tool a developer's run skips, saying how to get it; CI (CI=true) fails, so a
    missing install step cannot pass as green."""
    message = f"{what} is not installed: {how}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def load_role_table_script() -> ModuleType:
    """terraform/scripts/role_table.py, which renders docs/deploy.md's table (not a package)."""
    path = TERRAFORM_DIR / "scripts" / "role_table.py"
    spec = importlib.util.spec_from_file_location("caravan_role_table", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
