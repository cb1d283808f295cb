"""docker-compose.yml, checked without a Docker engine: valid Compose, Airflow 3.3's official
pattern, and what plugins/caravan/deployment.py says (COMPONENTS, airflow_settings), which
`caravan up --celery` runs from too."""

from __future__ import annotations

import ast
import base64
import copy
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from compose_support import (
    ENV_EXAMPLE,
    ROOT,
    SCHEMA_FILE,
    compose_healthcheck,
    env_example,
    interpolate,
    is_secret_name,
    literal_secrets_in_compose,
    literal_secrets_in_env_file,
    load_compose,
    pasted_keys,
    variables_used,
)

from caravan.airflow_env import airflow_environ
from caravan.deployment import (
    API_PORT,
    COMPONENTS,
    COMPOSE_ENDPOINTS,
    FLOWER_PORT,
    airflow_settings,
)
from caravan.settings import Settings

COMPOSE = load_compose()
SERVICES = COMPOSE["services"]
COMMON = COMPOSE["x-airflow-common"]
COMMON_ENV = COMMON["environment"]

# Airflow 3.3's official docker-compose.yaml's services, by their names here: the
# components keep COMPONENTS' names, which are also their host names (COMPOSE_ENDPOINTS).
OFFICIAL_SERVICES = {
    "postgres": "postgres",
    "redis": "redis",
    "airflow-init": "airflow-init",
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "worker",
    "flower": "flower",
    "airflow-cli": "airflow-cli",
}
# The services built from x-airflow-common: Caravan's image, one environment.
AIRFLOW_SERVICES = {*COMPONENTS, "airflow-init", "airflow-cli"}
HEALTHY = {"condition": "service_healthy"}
INITIALISED = {"condition": "service_completed_successfully"}
PASSWORDS_DIR = "/opt/airflow/secrets"


def test_the_file_is_valid_compose():
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert [error.message for error in validator.iter_errors(COMPOSE)] == []
    # The schema is strict where a mistake would pass silently: a misspelt key, an unknown
    # dependency condition.
    misspelt = copy.deepcopy(COMPOSE)
    misspelt["services"]["worker"]["healthchek"] = misspelt["services"]["worker"].pop("healthcheck")
    assert not validator.is_valid(misspelt)
    unknown = copy.deepcopy(COMPOSE)
    unknown["services"]["worker"]["depends_on"]["airflow-init"]["condition"] = "service_done"
    assert not validator.is_valid(unknown)


def test_every_service_of_the_official_pattern_is_here():
    assert set(SERVICES) == set(OFFICIAL_SERVICES.values())
    assert set(COMPONENTS) == {
        "api-server",
        "scheduler",
        "dag-processor",
        "triggerer",
        "worker",
        "flower",
    }
    for name in AIRFLOW_SERVICES:
        service = SERVICES[name]
        assert service["image"] == "caravan-airflow:latest" and service["build"] == ".", name
        assert service["env_file"] == [".env"], name
        assert service["user"] == "${AIRFLOW_UID:-50000}:0", name  # group 0: the image's rule
    for name in ("postgres", "redis"):
        assert SERVICES[name]["restart"] == "always"
    assert SERVICES["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert SERVICES["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_each_component_runs_its_command_with_its_health_check_as_deployment_says():
    for name, component in COMPONENTS.items():
        service = SERVICES[name]
        # The image's entrypoint runs `airflow <command>`.
        assert service["command"] == list(component.args), name
        check = service["healthcheck"]
        assert check["test"] == compose_healthcheck(component.healthcheck), name
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
        assert service["restart"] == "always", name
        assert service.get("profiles") == ([name] if component.optional else None), name
        waits_for = {"postgres": HEALTHY, "redis": HEALTHY, "airflow-init": INITIALISED}
        if name == "worker":  # its tasks call the execution API
            waits_for["api-server"] = HEALTHY
        assert service["depends_on"] == waits_for, name
    # Two of them written out by hand, as upstream's file has them.
    assert SERVICES["worker"]["command"] == ["celery", "worker"]
    assert SERVICES["worker"]["healthcheck"]["test"] == [
        "CMD-SHELL",
        "celery --app airflow.providers.celery.executors.celery_executor.app"
        " inspect ping -d celery@$${HOSTNAME}",
    ]
    assert SERVICES["api-server"]["healthcheck"]["test"] == [
        "CMD",
        "curl",
        "--fail",
        "http://localhost:8080/api/v2/version",
    ]


def test_the_shared_airflow_settings_are_deployments():
    expected = airflow_settings(COMPOSE_ENDPOINTS)
    assert {key: COMMON_ENV.get(key) for key in expected} == expected
    airflow_keys = {key for key in COMMON_ENV if key.startswith("AIRFLOW__")}
    # The DAGs' folder is where the image has them; the process mode has its checkout's.
    assert airflow_keys - set(expected) == {"AIRFLOW__CORE__DAGS_FOLDER"}
    # The hosts in those settings are this file's services, on the ports they serve.
    assert COMMON_ENV["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://api-server:8080/execution/"
    )
    for key, service, port in [
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgres", 5432),
        ("AIRFLOW__CELERY__BROKER_URL", "redis", 6379),
        ("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "api-server", API_PORT),
    ]:
        address = urlsplit(COMMON_ENV[key]).netloc.rpartition("@")[2]
        assert address == f"{service}:{port}", key
    # Every Airflow container has them, and only the additions each needs.
    additions = {
        "airflow-init": {"CARAVAN_ADMIN_USER", "CARAVAN_ADMIN_PASSWORD"},
        "worker": {"DUMB_INIT_SETSID"},  # Celery's warm shutdown under the image's dumb-init
        "airflow-cli": {"CONNECTION_CHECK_MAX_COUNT"},
    }
    for name in AIRFLOW_SERVICES:
        environment = SERVICES[name]["environment"]
        assert {key: environment.get(key) for key in COMMON_ENV} == COMMON_ENV, name
        assert set(environment) - set(COMMON_ENV) == additions.get(name, set()), name


def test_the_process_mode_differs_only_in_where_things_are(tmp_path):
    # What `caravan up --celery` sets on this machine (caravan.airflow_env).
    local = airflow_environ(
        Settings.from_env(
            {
                "CARAVAN_HOME": str(tmp_path),
                "CARAVAN_AIRFLOW_DB_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/caravan",
                "CARAVAN_CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
            }
        )
    )
    compose = {key: value for key, value in COMMON_ENV.items() if key.startswith("AIRFLOW__")}
    assert set(compose) <= set(local)
    differ = {key for key in compose if compose[key] != local[key]}
    assert differ == {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
        "AIRFLOW__CORE__DAGS_FOLDER",
    }


def settings_read_from_the_environment() -> set[str]:
    """The variables plugins/caravan/settings.py reads (`env.get("NAME")`)."""
    tree = ast.parse((ROOT / "plugins" / "caravan" / "settings.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "env"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_the_containers_get_every_caravan_setting_they_use():
    read = settings_read_from_the_environment()
    assert {"CARAVAN_HOME", "CARAVAN_TARGET", "OPENAI_API_KEY"} <= read  # the reader works
    # Settings of `caravan up` and its simulator, which the containers do not run.
    process_mode_only = {
        "CARAVAN_BIND_HOST",
        "CARAVAN_API_PORT",
        "CARAVAN_LOG_SERVER_PORT",
        "CARAVAN_AIRFLOW_DB_URL",
        "CARAVAN_CELERY_BROKER_URL",
        "CARAVAN_SEED",
    }
    assert read - process_mode_only == {key for key in COMMON_ENV if key in read}
    assert {key for key in COMMON_ENV if key.startswith("CARAVAN_")} <= read  # no misspelling
    # With .env.example's values the containers' settings are those worked out by hand.
    environment = {key: interpolate(str(value), env_example()) for key, value in COMMON_ENV.items()}
    settings = Settings.from_env(environment)
    assert settings.home == Path("/opt/caravan/home")
    assert settings.lake_url == "file:///opt/caravan/home/lake"
    assert settings.target == "duckdb"
    assert settings.snowflake_conn_id == "snowflake_default"
    assert settings.bigquery_location == "US"
    assert (
        str(settings.dags_dir) == environment["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/caravan/dags"
    )


def test_every_variable_it_uses_and_every_connection_is_in_env_example():
    listed = env_example()
    used = variables_used(COMPOSE)
    assert used - set(listed) == set()
    secrets = {
        "POSTGRES_PASSWORD",
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_FERNET_KEY",
        "CARAVAN_ADMIN_PASSWORD",
    }
    assert secrets <= used
    assert {name: listed[name] for name in secrets} == dict.fromkeys(secrets, "")
    # A connection for each source of the registry, and for the settings' default ids.
    registry = yaml.safe_load((ROOT / "dags" / "sources.yaml").read_text())
    defaults = Settings.from_env({})
    conn_ids = {entry["conn_id"] for entry in registry.values()} | {
        defaults.snowflake_conn_id,
        defaults.alert_slack_conn_id,
        defaults.alert_smtp_conn_id,
    }
    assert len(conn_ids) == 12
    assert {f"AIRFLOW_CONN_{conn_id.upper()}" for conn_id in conn_ids} <= set(listed)


def test_no_secret_is_written_in_the_compose_file_or_env_example():
    assert literal_secrets_in_compose(COMPOSE) == []
    assert pasted_keys((ROOT / "docker-compose.yml").read_text()) == []
    assert literal_secrets_in_env_file(ENV_EXAMPLE.read_text()) == []
    assert is_secret_name("AIRFLOW_CONN_CRM_DEFAULT") and is_secret_name("OPENAI_API_KEY")
    assert not is_secret_name("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    # The checks find what upstream's file and a careless edit would put there.
    fernet_key = base64.urlsafe_b64encode(bytes(range(32))).decode()  # a valid key's form
    careless = copy.deepcopy(COMPOSE)
    careless["x-airflow-common"]["environment"]["AIRFLOW__CORE__FERNET_KEY"] = fernet_key
    careless["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] = "airflow"
    careless["services"]["worker"]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] = (
        "${AIRFLOW_JWT_SECRET:-airflow_jwt_secret}"
    )
    careless["services"]["airflow-cli"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
        "postgresql+psycopg://airflow:airflow@postgres/airflow"
    )
    assert set(literal_secrets_in_compose(careless)) == {
        f"AIRFLOW__CORE__FERNET_KEY: {fernet_key}",
        fernet_key,  # as a pasted key, too
        "POSTGRES_PASSWORD: airflow",
        "AIRFLOW__API_AUTH__JWT_SECRET: ${AIRFLOW_JWT_SECRET:-airflow_jwt_secret}",
        "password in postgresql+psycopg://airflow:airflow@postgres/airflow",
    }
    assert literal_secrets_in_env_file(f"CARAVAN_ADMIN_PASSWORD=hunter2\n# {fernet_key}\n") == [
        "CARAVAN_ADMIN_PASSWORD=hunter2",
        fernet_key,
    ]


def test_only_the_ui_and_flower_publish_a_port_on_this_machine_by_default():
    published = {name: service["ports"] for name, service in SERVICES.items() if "ports" in service}
    assert published == {
        "api-server": ["${CARAVAN_BIND_HOST:-127.0.0.1}:8080:8080"],
        "flower": ["127.0.0.1:5555:5555"],  # it has no login: reached over SSH, say
    }
    for name, port in [("api-server", API_PORT), ("flower", FLOWER_PORT)]:
        _, host_port, container_port = published[name][0].rsplit(":", 2)
        assert int(host_port) == int(container_port) == port


def test_the_passwords_file_is_on_a_volume_only_init_and_the_api_server_mount():
    passwords_file = PurePosixPath(COMMON_ENV["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert str(passwords_file.parent) == PASSWORDS_DIR
    mounting = {
        name
        for name, service in SERVICES.items()
        for volume in service.get("volumes", [])
        if volume.split(":")[1] == PASSWORDS_DIR
    }
    assert mounting == {"airflow-init", "api-server"}
    assert f"airflow-secrets:{PASSWORDS_DIR}" in SERVICES["api-server"]["volumes"]
    assert "airflow-secrets" in COMPOSE["volumes"]  # named: not a folder of the host
    # The bind-mounted sources are read-only: the containers run them, never change them.
    binds = [v for v in COMMON["volumes"] if v.startswith("./")]
    assert binds == ["./dags:/opt/caravan/dags:ro", "./dbt_project:/opt/caravan/dbt_project:ro"]


# airflow-init's script, run for real on this machine: Airflow's own CLI against a SQLite
# database instead of the postgres service, the passwords file in a temporary folder.
def init_environment(tmp_path: Path, **dot_env: str) -> dict[str, str]:
    values = {
        **env_example(),
        "POSTGRES_PASSWORD": "unused-here",
        "AIRFLOW_JWT_SECRET": "a-jwt-secret",
        "AIRFLOW_FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "CARAVAN_ADMIN_USER": "ops",
        "CARAVAN_ADMIN_PASSWORD": "correct horse",
        **dot_env,
    }
    environment = {
        key: interpolate(str(value), values)
        for key, value in SERVICES["airflow-init"]["environment"].items()
    }
    return environment | {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "passwords.json"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    }


def run_init(environment: dict[str, str]) -> subprocess.CompletedProcess:
    command = SERVICES["airflow-init"]["command"]
    assert command[:2] == ["bash", "-c"]
    script = interpolate(command[2], {})  # `$$` to `$`; it substitutes no `.env` variable
    return subprocess.run(
        ["bash", "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )


def test_init_migrates_creates_the_pool_and_writes_the_admins_password(tmp_path):
    result = run_init(init_environment(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    passwords = tmp_path / "passwords.json"
    assert json.loads(passwords.read_text()) == {"ops": "correct horse"}
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o660  # the containers' group only
    with sqlite3.connect(tmp_path / "airflow.db") as db:
        pools = db.execute("select pool, slots from slot_pool order by pool").fetchall()
    assert pools == [("caravan_warehouse", 1), ("default_pool", 128)]


@pytest.mark.parametrize(
    ("dot_env", "named"),
    [
        ({"CARAVAN_ADMIN_PASSWORD": ""}, "CARAVAN_ADMIN_PASSWORD is empty"),
        ({"AIRFLOW_JWT_SECRET": ""}, "AIRFLOW_JWT_SECRET is empty"),
        ({"AIRFLOW_FERNET_KEY": "not-a-key"}, "AIRFLOW_FERNET_KEY is not a Fernet key"),
    ],
)
def test_init_refuses_to_start_without_its_secrets(tmp_path, dot_env, named):
    result = run_init(init_environment(tmp_path, **dot_env))
    assert result.returncode == 1
    assert named in result.stderr
    # Before touching anything: no database, no passwords file.
    assert not (tmp_path / "airflow.db").exists()
    assert not (tmp_path / "passwords.json").exists()
