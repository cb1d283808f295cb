"""Without Java, Caravan says so plainly instead of a stack trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spark_jobs.common.session import JavaNotFound, require_java


def test_require_java_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no java on PATH
    with pytest.raises(JavaNotFound, match="Java 17 or newer .* on PATH.*openjdk-17"):
        require_java()


def test_require_java_names_a_broken_java_home(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaNotFound, match=f"JAVA_HOME={tmp_path} has no bin/java"):
        require_java()


def test_caravan_demo_without_java_exits_with_a_message(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "CARAVAN_HOME": str(tmp_path / "home")}
    env.pop("JAVA_HOME", None)
    result = subprocess.run(
        [str(Path(sys.executable).with_name("caravan")), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Spark needs Java 17 or newer" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
