"""Caravan's settings: the one place that reads the environment (DESIGN §3).

Only URLs, credentials and settings differ between the embedded default and a
deployment at scale; everything that differs is read here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TARGETS = ("duckdb", "snowflake", "bigquery")

# The repository root when Caravan runs from a checkout (editable install).
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    home: Path
    lake_url: str
    target: str
    spark_remote: str | None
    spark_submit_conn_id: str | None
    openai_api_key: str | None
    openai_base_url: str | None
    project_dir: Path
    seed: int
    reporting_currency: str = "USD"
    # The Snowflake target: its Airflow connection (the credentials) and, for a lake on
    # gs://, the storage integration its external stage reads the bucket through.
    snowflake_conn_id: str = "snowflake_default"
    snowflake_storage_integration: str | None = None
    # The BigQuery target: project (unset: the credentials' own), datasets' location, and
    # a service-account key file (unset: application default credentials).
    bigquery_project: str | None = None
    bigquery_location: str = "US"
    bigquery_keyfile: str | None = None
    # Alerts (docs/alerts.md): Airflow connections of a Slack-compatible incoming webhook
    # and an SMTP server; a connection that is not defined turns its channel off.
    alert_slack_conn_id: str = "caravan_slack"
    alert_smtp_conn_id: str = "caravan_smtp"
    alert_email_to: tuple[str, ...] = ()
    # The address `caravan up`'s servers (Airflow's API server and UI, its log server)
    # listen on: this machine only, unless opened deliberately (0.0.0.0: every interface).
    bind_host: str = "127.0.0.1"
    # Their ports: the API server's (UI, REST, execution API) and the task-log server's.
    api_port: int = 8080
    log_server_port: int = 8793
    # `caravan up --celery` (docs/deploy.md): Airflow's metadata database (a SQLAlchemy
    # URL; unset: SQLite under CARAVAN_HOME) and Celery's broker (unset: no Celery).
    airflow_db_url: str | None = None
    celery_broker_url: str | None = None
    # The language model (docs/assistant.md): unset OPENAI_API_KEY means offline mode.
    # The chat model labels text and drives `caravan ask`; an embedding model, if set,
    # adds dense retrieval to BM25. The budget caps one enrichment run's tokens.
    openai_model: str = "gpt-4o-mini"
    openai_embedding_model: str | None = None
    enrich_token_budget: int = 200_000

    @property
    def language_model(self) -> str | None:
        """The chat model in use, or None offline (no API key)."""
        return self.openai_model if self.openai_api_key else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("CARAVAN_HOME") or ".caravan").expanduser().resolve()
        target = env.get("CARAVAN_TARGET") or "duckdb"
        if target not in TARGETS:
            raise ValueError(f"CARAVAN_TARGET={target!r}: expected one of {', '.join(TARGETS)}")
        return cls(
            home=home,
            lake_url=(env.get("CARAVAN_LAKE_URL") or f"file://{home / 'lake'}").rstrip("/"),
            target=target,
            spark_remote=env.get("CARAVAN_SPARK_REMOTE") or None,
            spark_submit_conn_id=env.get("CARAVAN_SPARK_SUBMIT_CONN_ID") or None,
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            project_dir=Path(env.get("CARAVAN_PROJECT_DIR") or _CHECKOUT_ROOT).resolve(),
            seed=int(env.get("CARAVAN_SEED") or 42),
            snowflake_conn_id=env.get("CARAVAN_SNOWFLAKE_CONN_ID") or "snowflake_default",
            snowflake_storage_integration=env.get("CARAVAN_SNOWFLAKE_STORAGE_INTEGRATION") or None,
            bigquery_project=env.get("CARAVAN_BIGQUERY_PROJECT") or None,
            bigquery_location=env.get("CARAVAN_BIGQUERY_LOCATION") or "US",
            bigquery_keyfile=env.get("CARAVAN_BIGQUERY_KEYFILE") or None,
            alert_slack_conn_id=env.get("CARAVAN_ALERT_SLACK_CONN_ID") or "caravan_slack",
            alert_smtp_conn_id=env.get("CARAVAN_ALERT_SMTP_CONN_ID") or "caravan_smtp",
            alert_email_to=_addresses(env.get("CARAVAN_ALERT_EMAIL_TO") or ""),
            bind_host=env.get("CARAVAN_BIND_HOST") or "127.0.0.1",
            api_port=int(env.get("CARAVAN_API_PORT") or 8080),
            log_server_port=int(env.get("CARAVAN_LOG_SERVER_PORT") or 8793),
            airflow_db_url=env.get("CARAVAN_AIRFLOW_DB_URL") or None,
            celery_broker_url=env.get("CARAVAN_CELERY_BROKER_URL") or None,
            openai_model=env.get("CARAVAN_OPENAI_MODEL") or "gpt-4o-mini",
            openai_embedding_model=env.get("CARAVAN_OPENAI_EMBEDDING_MODEL") or None,
            enrich_token_budget=int(env.get("CARAVAN_ENRICH_TOKEN_BUDGET") or 200_000),
        )

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def sources_dir(self) -> Path:
        """Where the simulator keeps its systems' state."""
        return self.home / "sources"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def data_docs_dir(self) -> Path:
        """Great Expectations' Data Docs site: `index.html` and one page per gate run."""
        return self.home / "data_docs"

    @property
    def gx_dir(self) -> Path:
        """Great Expectations' own stores (validation results as GX JSON)."""
        return self.home / "gx"

    @property
    def dags_dir(self) -> Path:
        return self.project_dir / "dags"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_dir / "dbt_project"


def _addresses(text: str) -> tuple[str, ...]:
    """Email addresses from a comma- or semicolon-separated list."""
    return tuple(part.strip() for part in text.replace(";", ",").split(",") if part.strip())


def get_settings() -> Settings:
    """Settings from the current environment (cheap; read on every call so tests can vary it)."""
    return Settings.from_env()


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` in this process's environment within the block (for code that reads it
    there: dbt's profile, Airflow's connection lookup); the values before are back after."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
