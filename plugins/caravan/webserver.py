"""`caravan up`: Airflow's UI, scheduler and the rest on Caravan's DAGs, on this machine.

It runs what `airflow standalone` runs (scheduler, DAG processor, triggerer, API server),
but starts them itself: standalone starts the scheduler and the triggerer with their log
servers, and those listen on every interface whatever the configuration (Airflow 3.3's
`serve_logs` binds host ""). Here they run without (`--skip-serve-logs`), and one log
server of Caravan's serves both's logs (the same folder) where the API server listens:
on CARAVAN_BIND_HOST, 127.0.0.1 unless opened deliberately.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import IO

from caravan import airflow_env
from caravan.airflow_env import ADMIN_USER
from caravan.deployment import FLOWER_PORT
from caravan.runner import embedded_sources, window
from caravan.settings import Settings, get_settings

# The UI with the default CARAVAN_BIND_HOST (airflow_env.api_url gives it for any).
URL = f"http://127.0.0.1:{Settings.api_port}"
STARTUP_TIMEOUT_SECONDS = 180
# How often `caravan up --celery` starts a component again that ended.
MAX_RESTARTS = 5
# How long Airflow's components may take to stop before they are ended.
STOP_GRACE_SECONDS = 40
# One log for every component, under the name it had when `airflow standalone` wrote it.
LOG_NAME = "standalone.log"


def admin_password(settings: Settings) -> str:
    """The UI's admin password: generated once, kept under CARAVAN_HOME (not in the repo)."""
    path = settings.airflow_home / "passwords.json"
    if path.exists():
        return json.loads(path.read_text())[ADMIN_USER]
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({ADMIN_USER: password}))
    path.chmod(0o600)
    return password


def components(celery: bool = False, flower: bool = False) -> dict[str, list[str]]:
    """The processes `caravan up` runs, by name: Airflow's, as `airflow standalone` starts
    them (with `celery`, the deployment's: caravan.deployment.COMPONENTS, Celery's worker
    and optionally Flower among them) but without their log servers, and Caravan's log
    server instead of those: on one machine they would all take one port."""
    from caravan.deployment import COMPONENTS

    airflow = [sys.executable, "-m", "airflow"]
    chosen = {
        name: list(component.args)
        for name, component in COMPONENTS.items()
        if (name != "worker" or celery) and (not component.optional or (celery and flower))
    }
    for name in ("scheduler", "triggerer", "worker"):
        if name in chosen:
            chosen[name].append("--skip-serve-logs")
    return {
        **{name: [*airflow, *args] for name, args in chosen.items()},
        "log-server": [sys.executable, "-m", "caravan.webserver", "serve-logs"],
    }


def serve_task_logs() -> None:
    """Airflow's log server (what `serve_logs` runs) on CARAVAN_BIND_HOST: the API server
    fetches running tasks' and triggers' logs from it. Port: `[logging]
    worker_log_server_port`, which the triggers' port is set to as well (airflow_env)."""
    import uvicorn
    from airflow.configuration import conf

    uvicorn.run(
        "airflow.utils.serve_logs.log_server:get_app",
        host=get_settings().bind_host,
        port=conf.getint("logging", "worker_log_server_port"),
        log_level=conf.get("logging", "uvicorn_logging_level", fallback="info").lower(),
        log_config=None,
        access_log=False,
    )


def start_components(
    environ: Mapping[str, str], log: IO[str], commands: Mapping[str, list[str]] | None = None
) -> dict[str, subprocess.Popen]:
    """Start every component (`commands`, default `components()`) with `environ`, its
    output appended to `log`."""
    started: dict[str, subprocess.Popen] = {}
    try:
        for name, command in (commands or components()).items():
            log.write(f"--- caravan up: starting {name}: {' '.join(command)}\n")
            log.flush()
            started[name] = subprocess.Popen(
                command, env=dict(environ), stdout=log, stderr=subprocess.STDOUT
            )
    except BaseException:
        stop_components(started, interrupted=False)
        raise
    return started


def wait_until_healthy(processes: Mapping[str, subprocess.Popen], url: str, timeout: float) -> bool:
    """Until the API server answers its health check; False if a component ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in processes.values()):
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(2)
    return False


def is_loopback(host: str) -> bool:
    """Whether only this machine reaches `host` (a name other than localhost: not known)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def wait_for_an_exit(
    processes: dict[str, subprocess.Popen],
    restart: Callable[[str], subprocess.Popen] | None = None,
    terminal: IO[str] = sys.stderr,
) -> tuple[str, int]:
    """The first component to end for good, and its exit code. With `restart`, a component
    that ends is started again (as compose's `restart: always`: a worker killed mid-task
    comes back and the scheduler retries its task), up to MAX_RESTARTS times each."""
    restarts: dict[str, int] = {}
    while True:
        for name, process in processes.items():
            code = process.poll()
            if code is None:
                continue
            if restart is None or restarts.get(name, 0) >= MAX_RESTARTS:
                return name, code
            restarts[name] = restarts.get(name, 0) + 1
            print(f"Airflow's {name} ended (exit code {code}); starting it again", file=terminal)
            processes[name] = restart(name)
        time.sleep(1)


def serve(settings: Settings, start: str, days: int, flower: bool = False) -> int:
    """Airflow's components until one ends or Ctrl-C: LocalExecutor on SQLite, or, when
    the settings name a Celery broker (`caravan up --celery`), the team-server deployment
    on PostgreSQL and Redis with a Celery worker (caravan.deployment)."""
    # SIGTERM (e.g. from a supervisor) unwinds like Ctrl-C, so Airflow and the simulator stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    celery = settings.celery_broker_url is not None
    if celery:
        create_database(settings.airflow_db_url)
    airflow_env.ensure_database(settings)
    password = admin_password(settings)
    dates = window(start, days)
    url = airflow_env.api_url(settings)
    log_path = settings.logs_dir / LOG_NAME
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with embedded_sources(settings, dates) as simulated, log_path.open("a") as log:
        print(f"Starting Airflow (log: {log_path}) ...", flush=True)
        commands = components(celery, flower)
        processes = start_components(os.environ, log, commands)
        interrupted = False
        try:
            if not wait_until_healthy(processes, url, STARTUP_TIMEOUT_SECONDS):
                print(f"Airflow did not come up; see {log_path}", file=sys.stderr)
                return 1
            print(f"\nAirflow UI: {url}\nlogin:      {ADMIN_USER} / {password}")
            if not is_loopback(settings.bind_host):
                where = (
                    "every interface"
                    if airflow_env.local_address(settings.bind_host) != settings.bind_host
                    else settings.bind_host
                )
                print(
                    f"listening:  on {where} (CARAVAN_BIND_HOST={settings.bind_host}):"
                    " whoever reaches it reaches the UI's login and the task logs"
                )
            if simulated:
                print(f"sources:    the simulator, serving {dates[0]} .. {dates[-1]}")
            if celery:
                print(
                    f"executor:   Celery (broker {redact(settings.celery_broker_url)}), metadata"
                    f" on {redact(settings.airflow_db_url)}"
                    + (f"; Flower on :{FLOWER_PORT}" if flower else "")
                )
            print(
                "DAGs start paused: unpause them in the UI and the scheduler runs them.\n"
                "Ctrl-C stops Airflow.",
                flush=True,
            )

            def restart(name: str) -> subprocess.Popen:
                return start_components(os.environ, log, {name: commands[name]})[name]

            # The team server keeps its components up, as its compose file does.
            name, code = wait_for_an_exit(processes, restart if celery else None)
            print(f"Airflow's {name} ended (exit code {code}); see {log_path}", file=sys.stderr)
            return code or 1
        except KeyboardInterrupt:  # Ctrl-C reached Airflow's processes too: they are stopping
            interrupted = True
            return 0
        finally:
            stop_components(processes, interrupted)


def create_database(url: str) -> None:
    """Create Airflow's metadata database on its PostgreSQL server if it is not there (a
    team server's first start); the server must answer."""
    import sqlalchemy

    target = sqlalchemy.engine.make_url(url)
    admin = sqlalchemy.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as con:
            exists = con.execute(
                sqlalchemy.text("select 1 from pg_database where datname = :name"),
                {"name": target.database},
            ).scalar()
            if not exists:
                con.execute(sqlalchemy.text(f'create database "{target.database}"'))
    finally:
        admin.dispose()


def redact(url: str) -> str:
    """A URL without its password, for the terminal."""
    import sqlalchemy

    return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)


def stop_components(processes: Mapping[str, subprocess.Popen], interrupted: bool) -> None:
    """Stop every component and every process it started, whatever state they are in.

    Each stops on SIGTERM (as `airflow standalone` stops them), or on the SIGINT that
    Ctrl-C sent it. What still runs after the grace period is ended, so nothing outlives
    `caravan up`.
    """
    import psutil

    descendants = []
    for process in processes.values():
        try:
            descendants += psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    if not interrupted:  # Ctrl-C already reached Airflow's processes
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    left = [p for p in descendants if p.is_running()]
    for descendant in left:
        try:
            descendant.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still_running = psutil.wait_procs(left, timeout=10)
    for descendant in still_running:
        try:
            descendant.kill()
        except psutil.NoSuchProcess:
            pass


if __name__ == "__main__":
    if sys.argv[1:] != ["serve-logs"]:
        raise SystemExit("usage: python -m caravan.webserver serve-logs")
    serve_task_logs()
