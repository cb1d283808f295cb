"""The Dockerfile of Caravan's image, its build context (.dockerignore) and .gitignore's
care of `.env`, checked without building (no Docker engine here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import PurePosixPath

from compose_support import DOCKERFILE, ROOT, is_secret_name, load_compose, pasted_keys

# What the image must hold: the sources `pip install -e .` makes the caravan package of,
# the DAGs and the dbt project (baked; docker-compose.yml may bind-mount the last two).
PROJECT = {"pyproject.toml", "README.md", "plugins", "spark_jobs", "dags", "dbt_project"}


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    steps = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            steps.append((keyword.upper(), arguments.strip()))
    return steps


def pinned(package: str) -> str:
    match = re.search(rf"^{package}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def copied(steps: list[tuple[str, str]]) -> list[str]:
    """The sources of the COPY instructions, without a trailing slash."""
    sources = []
    for keyword, arguments in steps:
        if keyword == "COPY":
            parts = [part for part in arguments.split() if not part.startswith("--")]
            sources += [part.rstrip("/") for part in parts[:-1]]
    return sources


def test_the_image_is_airflows_official_one_of_the_pinned_version():
    steps = instructions()
    python = re.search(
        r'requires-python = ">=(\d+\.\d+)', (ROOT / "pyproject.toml").read_text()
    ).group(1)
    assert steps[0] == ("FROM", f"apache/airflow:{pinned('apache-airflow')}-python{python}")
    assert [keyword for keyword, _ in steps].count("FROM") == 1
    assert python == "3.11"


def test_java_17_is_installed_as_root_and_the_image_runs_as_airflow():
    steps = instructions()
    user = None
    java_as = []
    for keyword, arguments in steps:
        if keyword == "USER":
            user = arguments
        elif keyword == "RUN" and "openjdk-17-jre-headless" in arguments:
            assert "apt-get install" in arguments
            java_as.append(user)
    assert java_as == ["root"]
    assert [arguments for keyword, arguments in steps if keyword == "USER"][-1] == "airflow"


def test_the_pinned_requirements_then_caravan_itself_are_installed():
    steps = instructions()
    runs = [arguments for keyword, arguments in steps if keyword == "RUN"]
    assert "pip install --no-cache-dir -r requirements.txt" in runs
    assert "pip install --no-cache-dir --no-deps -e ." in runs
    # The requirements come before the code (a code change keeps their layer), the whole
    # project before the editable install.
    order = [arguments for _, arguments in steps]
    requirements = order.index("pip install --no-cache-dir -r requirements.txt")
    editable = order.index("pip install --no-cache-dir --no-deps -e .")
    assert copied(steps[:requirements]) == ["requirements.txt"]
    assert set(copied(steps[requirements:editable])) == PROJECT
    workdir = [arguments for keyword, arguments in steps if keyword == "WORKDIR"]
    assert workdir == ["/opt/caravan"]
    # Where docker-compose.yml tells Caravan and Airflow the project is.
    environment = load_compose()["x-airflow-common"]["environment"]
    assert environment["CARAVAN_PROJECT_DIR"] == workdir[0]
    assert environment["AIRFLOW__CORE__DAGS_FOLDER"] == f"{workdir[0]}/dags"


def test_the_named_volumes_mount_on_folders_the_image_made_writable():
    # A new named volume takes the ownership of the image's folder it mounts on: a folder
    # the image lacks would be root's, and the containers' user could not write to it.
    compose = load_compose()
    named = set(compose["volumes"])
    targets = {
        volume.split(":")[1]
        for name, service in compose["services"].items()
        if name not in ("postgres", "redis")
        for volume in service.get("volumes", [])
        if volume.split(":")[0] in named
    }
    # AIRFLOW_HOME/logs is the official image's own, group-writable.
    assert targets - {"/opt/airflow/logs"} == {"/opt/caravan/home", "/opt/airflow/secrets"}
    commands = [
        command.split()
        for keyword, arguments in instructions()
        if keyword == "RUN"
        for command in arguments.split("&&")
    ]

    def covered(target: str, operands: list[str]) -> bool:
        return any(target == path or target.startswith(f"{path}/") for path in operands)

    for target in targets - {"/opt/airflow/logs"}:
        assert any(c[:2] == ["mkdir", "-p"] and target in c for c in commands), target
        assert any(c[:3] == ["chown", "-R", "airflow:0"] and covered(target, c) for c in commands)
        # Group 0 may write: any uid of docker-compose.yml's `user: <uid>:0`.
        assert any(c[0] == "chmod" and c[1][1] in "67" and target in c for c in commands), target


def test_no_secret_is_written_in_the_dockerfile():
    for keyword, arguments in instructions():
        if keyword in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split()[0]]
            assert not any(is_secret_name(name) for name in names), arguments
    assert pasted_keys(DOCKERFILE.read_text()) == []


def test_the_build_context_is_only_what_the_dockerfile_copies():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything out, then back in by name: never .env or .venv
    back_in = {pattern[1:] for pattern in patterns if pattern.startswith("!")}
    copies = set(copied(instructions()))
    assert {PurePosixPath(path).parts[0] for path in back_in} == copies
    assert back_in - copies == {"dags/.airflowignore"}  # hidden files are out but this one


def test_env_is_ignored_by_git_and_its_example_is_not():
    def ignored(path: str) -> bool:
        result = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert result.returncode in (0, 1), result
        return result.returncode == 0

    assert ignored(".env")
    assert not ignored(".env.example")
