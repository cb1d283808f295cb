"""dbt's profile for each target, through Cosmos's profile mappings (cosmos/profiles/): a
mapping turns the target's credentials into a profiles.yml and the environment variables
its secrets travel in, when dbt runs (`ProfileConfig.ensure_profile`), for the warehouse
DAG's Cosmos task and for dbt run in-process alike (`caravan.warehouse.dbt`).

DuckDB has no credentials: its profile is the project's own dbt_project/profiles.yml,
which a person running plain `dbt` in dbt_project reads too.

Light to import at DAG parse time (Cosmos's mappings are plain classes): nothing here
reads a connection or a key file until dbt runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cosmos.config import ProfileConfig
from cosmos.profiles.base import BaseProfileMapping
from cosmos.profiles.bigquery.oauth import GoogleCloudOauthProfileMapping
from cosmos.profiles.bigquery.service_account_file import (
    GoogleCloudServiceAccountFileProfileMapping,
)
from cosmos.profiles.snowflake.user_pass import SnowflakeUserPasswordProfileMapping

from caravan.settings import Settings

if TYPE_CHECKING:
    from airflow.sdk import Connection

PROFILE_NAME = "caravan"  # dbt_project.yml's `profile`
# The schema dbt's connections start in (every model names its own: staging, marts, …).
DEFAULT_SCHEMA = "main"
THREADS = 4


class SnowflakeProfileMapping(SnowflakeUserPasswordProfileMapping):
    """Cosmos's Snowflake user/password mapping of the Airflow connection, reading the
    connection as the loader does (`snowflake.SnowflakeConnection`; docs/warehouse.md, "The
    Snowflake connection"). What Cosmos's mapping leaves out, added here:

    - host and port from the connection's own fields (Cosmos reads only extra `host` and
      `port`) and extra `protocol` (Cosmos maps none): the tests reach a fakesnow server at
      http://127.0.0.1:<port>, and without them dbt would go to
      <account>.snowflakecomputing.com;
    - extra `private_key_file` in place of a password (Cosmos's key-file mapping is another
      class, and which one a connection needs is known only once it is read, when dbt runs:
      the DAG is parsed without reading it);
    - the schema `main` when the connection names none;
    - the password in a `DBT_ENV_SECRET_` variable, which dbt scrubs from its logs (Cosmos
      names it `COSMOS_CONN_SNOWFLAKE_PASSWORD`).
    """

    airflow_param_mapping = {
        **SnowflakeUserPasswordProfileMapping.airflow_param_mapping,
        "host": ["host", "extra.host"],
        "port": ["port", "extra.port"],
        "protocol": "extra.protocol",
        "private_key_path": "extra.private_key_file",
    }

    @property
    def secret_fields(self) -> list[str]:  # Cosmos's: always ["password"]
        return ["password"] if self.conn.password else []

    @classmethod
    def get_env_var_name(cls, field_name: str) -> str:
        return f"DBT_ENV_SECRET_SNOWFLAKE_{field_name.upper()}"

    def transform_port(self, port: Any) -> int:
        return int(port)  # an extra's port is text

    @property
    def profile(self) -> dict[str, Any]:
        profile = super().profile
        if not self.conn.password:
            del profile["password"]  # a key pair's file instead
        profile.setdefault("schema", DEFAULT_SCHEMA)
        return profile


class _SettingsConnection(BaseProfileMapping):
    """Cosmos's Google Cloud mappings read a `google_cloud_platform` Airflow connection;
    Caravan's BigQuery credentials are settings instead (CARAVAN_BIGQUERY_PROJECT, _KEYFILE,
    _LOCATION), read by the loader too. The connection the mapping reads is made from them
    when dbt runs: extra `project` (unset: the credentials' own), `dataset` and `key_path`."""

    airflow_connection_type = "google_cloud_platform"

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            conn_id="caravan_settings",  # looked up nowhere: `conn` below
            profile_args={"location": settings.bigquery_location, "threads": THREADS},
        )
        self.project = settings.bigquery_project
        self.keyfile = settings.bigquery_keyfile

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            from airflow.sdk import Connection

            from caravan.warehouse.bigquery import default_project

            extra = {
                "project": self.project or default_project(self.keyfile),
                "dataset": DEFAULT_SCHEMA,
                "key_path": self.keyfile,
            }
            self._conn = Connection(
                conn_id=self.conn_id,
                conn_type=self.airflow_connection_type,
                extra=json.dumps({name: value for name, value in extra.items() if value}),
            )
        return self._conn


class BigQueryServiceAccountFileProfileMapping(
    _SettingsConnection, GoogleCloudServiceAccountFileProfileMapping
):
    """A service account's key file (CARAVAN_BIGQUERY_KEYFILE)."""


class BigQueryOauthProfileMapping(_SettingsConnection, GoogleCloudOauthProfileMapping):
    """Application default credentials (`gcloud auth application-default login`, a VM's or
    a workload's service account): dbt-bigquery's `oauth` method."""


def _duckdb(settings: Settings) -> ProfileConfig:
    return ProfileConfig(
        profile_name=PROFILE_NAME,
        target_name=settings.target,
        profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
    )


def _snowflake(settings: Settings) -> ProfileConfig:
    return ProfileConfig(
        profile_name=PROFILE_NAME,
        target_name=settings.target,
        profile_mapping=SnowflakeProfileMapping(settings.snowflake_conn_id),
    )


def _bigquery(settings: Settings) -> ProfileConfig:
    mapping = (
        BigQueryServiceAccountFileProfileMapping
        if settings.bigquery_keyfile
        else BigQueryOauthProfileMapping
    )
    return ProfileConfig(
        profile_name=PROFILE_NAME, target_name=settings.target, profile_mapping=mapping(settings)
    )


_PROFILES: dict[str, Callable[[Settings], ProfileConfig]] = {
    "duckdb": _duckdb,
    "snowflake": _snowflake,
    "bigquery": _bigquery,
}


def profile_config(settings: Settings) -> ProfileConfig:
    """dbt's profile for the target `CARAVAN_TARGET` names. Reads nothing yet: the mapping
    reads the connection (or the key file) when `ensure_profile` writes the profile."""
    return _PROFILES[settings.target](settings)
