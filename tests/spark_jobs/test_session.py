"""Without Java, Caravan says so plainly instead of a stack trace; the warm-up job runs; the
local JVM compiles with C1 only and maps the class archive `make setup` built."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from spark_jobs.common.session import (
    C1_ONLY,
    CLASS_ARCHIVE,
    JavaNotFound,
    require_java,
    warm_up,
)


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


def test_the_warm_up_job_runs_and_leaves_nothing_behind(spark):
    def folders() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob("caravan-spark-warm-up-*"))

    before = folders()
    assert warm_up(spark) == 3  # keys k0, k1, k2: the latest row of each
    assert folders() == before


def test_the_local_session_compiles_with_c1_only(spark):
    javas = [p for p in psutil.Process().children(recursive=True) if p.name() == "java"]
    assert javas and all(C1_ONLY in p.cmdline() for p in javas)


def test_the_local_session_maps_the_class_archive_make_setup_built(spark):
    # `make setup` (and so CI and `make test`) builds it; HotSpot maps it only when it
    # accepts it (same Java, same classpath), and unmaps one it rejects.
    assert CLASS_ARCHIVE.is_file()
    [java] = [p for p in psutil.Process().children(recursive=True) if p.name() == "java"]
    assert f"-XX:SharedArchiveFile={CLASS_ARCHIVE}" in java.cmdline()
    assert str(CLASS_ARCHIVE) in {m.path for m in java.memory_maps()}
