"""Airflow's configuration under CARAVAN_HOME, derived from Caravan's settings.

Set in the environment before Airflow is imported (Airflow reads its config
at import), and inherited by every process Airflow starts.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

from caravan.settings import Settings

WAREHOUSE_POOL_DESCRIPTION = "Writes to the single DuckDB warehouse file, one at a time"
# What a task process needs that costs seconds to import: the gates' GX (most of it),
# Cosmos and dbt, PySpark's client. The scheduler's LocalExecutor starts its workers from
# a forkserver that has imported these once, and each task process is a fork of a
# worker, so a task starts with them loaded instead of importing them again (a raw gate
# task: about 10 s less, most of it while holding the warehouse pool).
TASK_PRELOAD = ("caravan.pipeline.gates", "cosmos.operators.local", "dbt.cli.main", "pyspark.sql")
# What `dag.test()` runs in the chain's own process imports, besides: Airflow's in-process
# execution API.
CHAIN_PRELOAD = (*TASK_PRELOAD, "airflow.api_fastapi.execution_api.app")

# Airflow's components share one SQLite file: wait for its lock rather than fail after
# sqlite3's default 5 s (an `airflow backfill create` while the scheduler wrote did).
SQLITE_CONNECT_ARGS = {"timeout": 60}

# `caravan up`'s servers listen on CARAVAN_BIND_HOST (settings.bind_host), on the
# settings' ports: the API server (UI, REST and the tasks' execution API) and the one log
# server that serves the running tasks' and triggers' logs (webserver.py: Airflow's own
# log servers listen on every interface whatever the configuration, so they are not
# started).
# Addresses that mean "every interface" to a server, and the one a client on this
# machine reaches it at.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1"}
# The UI's user (the simple auth manager's); its password is made per home (webserver.py).
ADMIN_USER = "admin"


def airflow_environ(settings: Settings) -> dict[str, str]:
    home = settings.airflow_home
    environ = {
        "CARAVAN_HOME": str(settings.home),
        "CARAVAN_BIND_HOST": settings.bind_host,  # for `hostname`, in every component
        # Airflow starts its components as `airflow ...`: find this environment's first.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Task processes each import Python's data stack: more than two per core thrash.
        "AIRFLOW__CORE__PARALLELISM": str(2 * (os.cpu_count() or 2)),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(TASK_PRELOAD),
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "5",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "caravan.airflow_env.SQLITE_CONNECT_ARGS",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.logs_dir / "airflow"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__API__HOST": settings.bind_host,
        "AIRFLOW__API__PORT": str(settings.api_port),
        # Tasks reach the execution API where the API server listens (Airflow's default,
        # localhost, is not that address when CARAVAN_BIND_HOST names an interface).
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url(settings)}/execution/",
        # The API server fetches a running task's log from http://<its hostname>:<port>:
        # name this machine by an address the log server listens on.
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "caravan.airflow_env.hostname",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.log_server_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.log_server_port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        # Cosmos's cache, one per Caravan home (not in /tmp, where two homes would share
        # it); the warehouse DAG's dbt_build keeps its partial-parse state below it.
        "AIRFLOW__COSMOS__CACHE_DIR": str(settings.home / "cosmos"),
        # dbt (run by Cosmos) must not phone home: there may be no network.
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    celery = celery_environ(settings)
    if celery:  # PostgreSQL takes no SQLite connect arguments
        del environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"]
    return environ | celery


def celery_environ(settings: Settings) -> dict[str, str]:
    """The team-server deployment's settings (caravan.deployment) on this machine: the
    metadata on CARAVAN_AIRFLOW_DB_URL, Celery's broker on CARAVAN_CELERY_BROKER_URL, the
    shared secrets kept under the Airflow home. Empty without a broker."""
    if not settings.celery_broker_url:
        return {}
    from caravan.deployment import Endpoints, airflow_settings, local_secrets

    if not settings.airflow_db_url:
        raise ValueError(
            "CARAVAN_CELERY_BROKER_URL is set but CARAVAN_AIRFLOW_DB_URL is not: Celery's"
            " components share Airflow's metadata database, which SQLite cannot be"
        )
    shared = local_secrets(settings.airflow_home)
    endpoints = Endpoints(
        metadata_db=settings.airflow_db_url,
        broker=settings.celery_broker_url,
        api=api_url(settings),
        jwt_secret=shared["jwt_secret"],
        fernet_key=shared["fernet_key"],
        admin_user=ADMIN_USER,
        passwords_file=str(settings.airflow_home / "passwords.json"),
    )
    return airflow_settings(endpoints)


def local_address(bind_host: str) -> str:
    """The address a client on this machine reaches a server listening on `bind_host` at."""
    return _ANY_ADDRESS.get(bind_host, bind_host)


def api_url(settings: Settings) -> str:
    """The API server's (and UI's) URL, as this machine reaches it."""
    host = local_address(settings.bind_host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.api_port}"


def hostname() -> str:
    """This machine's name for Airflow (`[core] hostname_callable`): the address its servers
    listen on, or its fully qualified name when they listen on every interface (the name
    a log server on a loopback address is not reached at: it may resolve to 127.0.1.1)."""
    settings = Settings.from_env()
    if settings.bind_host in _ANY_ADDRESS:
        from airflow.utils.net import getfqdn  # Airflow's default hostname_callable

        return getfqdn()
    return settings.bind_host


def apply(settings: Settings) -> None:
    """Point this process (and its children) at Caravan's Airflow home."""
    os.environ.update(airflow_environ(settings))
    settings.airflow_home.mkdir(parents=True, exist_ok=True)


def ensure_database(settings: Settings, preload: tuple[str, ...] = ()) -> None:
    """Create or upgrade Airflow's metadata DB and Caravan's pool (idempotent).

    The migration runs in a process of its own (several seconds on a new home); meanwhile
    this process imports the `preload` modules, on the other core, instead of later.
    """
    apply(settings)
    # Per metadata database: a home may move from SQLite to PostgreSQL (`up --celery`).
    database = hashlib.sha256(str(settings.airflow_db_url).encode()).hexdigest()[:12]
    marker = settings.airflow_home / (
        ".migrated" if settings.airflow_db_url is None else f".migrated-{database}"
    )
    if not marker.exists():
        migration = subprocess.Popen(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for module in preload:
                importlib.import_module(module)
        finally:
            _, errors = migration.communicate()
        if migration.returncode:
            raise subprocess.CalledProcessError(migration.returncode, migration.args, stderr=errors)
        marker.touch()
    from airflow.models.pool import Pool

    from caravan.dag_support import WAREHOUSE_POOL

    Pool.create_or_update_pool(
        WAREHOUSE_POOL, slots=1, description=WAREHOUSE_POOL_DESCRIPTION, include_deferred=False
    )
