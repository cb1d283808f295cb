"""The team-server deployment: Airflow on Celery, metadata on PostgreSQL, broker on Redis.

`docker-compose.yml` runs it in containers (after Airflow 3.3's official compose file);
`caravan up --celery` runs the same components as processes on one machine. Both take
their Airflow settings from `airflow_settings` and their components from `COMPONENTS`
(tests/deploy checks the compose file says the same), so the settings that must agree
across components can only be written once:

- one JWT secret: every API server signs the tasks' execution tokens and every component
  checks them; components that each generate their own refuse each other's tokens
  ("Signature verification failed");
- one Fernet key: connections and variables encrypted by one component are read by all;
- one execution-API URL: the address workers reach the API server at (not `localhost`,
  which in a container is the worker itself).

Light to import: the CLI and the tests read it without Airflow.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

API_PORT = 8080
FLOWER_PORT = 5555
SCHEDULER_HEALTH_PORT = 8974
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


@dataclass(frozen=True)
class Component:
    """One long-running Airflow component: its `airflow` arguments, and how its health is
    checked (the command the compose file's healthcheck runs; `$HOSTNAME` is its host)."""

    args: tuple[str, ...]
    healthcheck: tuple[str, ...]
    optional: bool = False  # behind a compose profile; `caravan up --celery --flower`


COMPONENTS: dict[str, Component] = {
    "api-server": Component(
        ("api-server",), ("curl", "--fail", f"http://localhost:{API_PORT}/api/v2/version")
    ),
    "scheduler": Component(
        ("scheduler",), ("curl", "--fail", f"http://localhost:{SCHEDULER_HEALTH_PORT}/health")
    ),
    "dag-processor": Component(
        ("dag-processor",),
        ("airflow", "jobs", "check", "--job-type", "DagProcessorJob", "--hostname", "$HOSTNAME"),
    ),
    "triggerer": Component(
        ("triggerer",),
        ("airflow", "jobs", "check", "--job-type", "TriggererJob", "--hostname", "$HOSTNAME"),
    ),
    "worker": Component(
        ("celery", "worker"),
        ("celery", "--app", CELERY_APP, "inspect", "ping", "-d", "celery@$HOSTNAME"),
    ),
    "flower": Component(
        ("celery", "flower"),
        ("curl", "--fail", f"http://localhost:{FLOWER_PORT}/"),
        optional=True,
    ),
}


@dataclass(frozen=True)
class Endpoints:
    """Where the components find each other and what they share; in the compose file each
    value is a `${VARIABLE}` of `.env` or a service's name."""

    metadata_db: str  # SQLAlchemy URL of Airflow's metadata database (PostgreSQL)
    broker: str  # Celery's broker (Redis)
    api: str  # the API server as the other components reach it, http://host:port
    jwt_secret: str
    fernet_key: str
    admin_user: str
    passwords_file: str  # the simple auth manager's users' passwords (JSON)


def airflow_settings(endpoints: Endpoints) -> dict[str, str]:
    """The Airflow settings every component of the deployment runs with."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": endpoints.metadata_db,
        # psycopg 3 is sync and async in one: Airflow's default async URL needs asyncpg.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": endpoints.metadata_db,
        "AIRFLOW__CELERY__BROKER_URL": endpoints.broker,
        # Task states in the metadata database: Redis keeps nothing on disk.
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{endpoints.metadata_db}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{endpoints.api}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": endpoints.jwt_secret,
        "AIRFLOW__CORE__FERNET_KEY": endpoints.fernet_key,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{endpoints.admin_user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": endpoints.passwords_file,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        # Task processes each import Python's data stack: a few a worker, not Celery's 16.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        # The worker imports GX, dbt, Cosmos and PySpark once, and its tasks inherit them.
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "caravan.celery_config.CELERY_CONFIG",
        # A worker killed mid-task: its task is failed (and retried) after this, not 5 min.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
    }


# The compose file's values: services by name, secrets and the admin from `.env`.
COMPOSE_ENDPOINTS = Endpoints(
    metadata_db="postgresql+psycopg://${POSTGRES_USER}:${POSTGRES_PASSWORD}@postgres:5432/${POSTGRES_DB}",
    broker="redis://redis:6379/0",
    api=f"http://api-server:{API_PORT}",
    jwt_secret="${AIRFLOW_JWT_SECRET}",
    fernet_key="${AIRFLOW_FERNET_KEY}",
    admin_user="${CARAVAN_ADMIN_USER}",
    passwords_file="/opt/airflow/secrets/passwords.json",
)


def local_secrets(folder: Path) -> dict[str, str]:
    """The JWT secret and Fernet key of a deployment on this machine: made once and kept in
    `folder` (owner-only), never in the repository. `.env` plays this part for compose."""
    path = folder / "deployment-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    made = {
        "jwt_secret": secrets.token_urlsafe(32),
        "fernet_key": base64.urlsafe_b64encode(os.urandom(32)).decode(),  # Fernet's format
    }
    folder.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(made))
    return made
