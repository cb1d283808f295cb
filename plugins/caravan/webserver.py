"""`caravan up`: Airflow's UI and scheduler (`airflow standalone`) on Caravan's DAGs."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

from caravan import airflow_env
from caravan.runner import embedded_sources, window
from caravan.settings import Settings

URL = "http://localhost:8080"
USER = "admin"
STARTUP_TIMEOUT_SECONDS = 180
# How long `airflow standalone` may take to stop its components before they are ended.
STOP_GRACE_SECONDS = 40


def admin_password(settings: Settings) -> str:
    """The UI's admin password: generated once, kept under CARAVAN_HOME (not in the repo)."""
    path = settings.airflow_home / "passwords.json"
    if path.exists():
        return json.loads(path.read_text())[USER]
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({USER: password}))
    path.chmod(0o600)
    return password


def wait_until_healthy(process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{URL}/api/v2/monitor/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(2)
    return False


def serve(settings: Settings, start: str, days: int) -> int:
    # SIGTERM (e.g. from a supervisor) unwinds like Ctrl-C, so Airflow and the simulator stop too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    airflow_env.ensure_database(settings)
    password = admin_password(settings)
    dates = window(start, days)
    log_path = settings.logs_dir / "standalone.log"
    with embedded_sources(settings, dates) as simulated, log_path.open("a") as log:
        print(f"Starting Airflow standalone (log: {log_path}) ...", flush=True)
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        interrupted = False
        try:
            if not wait_until_healthy(process, STARTUP_TIMEOUT_SECONDS):
                print(f"Airflow did not come up; see {log_path}", file=sys.stderr)
                return 1
            print(f"\nAirflow UI: {URL}\nlogin:      {USER} / {password}")
            if simulated:
                print(f"sources:    the simulator, serving {dates[0]} .. {dates[-1]}")
            print(
                "DAGs start paused: unpause them in the UI and the scheduler runs them.\n"
                "Ctrl-C stops Airflow.",
                flush=True,
            )
            return process.wait()
        except KeyboardInterrupt:  # Ctrl-C reached Airflow's processes too: they are stopping
            interrupted = True
            return 0
        finally:
            stop_standalone(process, interrupted)


def stop_standalone(process: subprocess.Popen, interrupted: bool) -> None:
    """Stop `airflow standalone` and every process it started, whatever state it is in.

    It stops its components (scheduler, DAG processor, API server, triggerer) only on
    SIGINT (SIGTERM would end it alone). Should it not have finished within the grace
    period, the processes still running are ended, so nothing outlives `caravan up`.
    """
    import psutil

    try:
        components = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        components = []
    if process.poll() is None:
        if not interrupted:  # Ctrl-C already reached Airflow's processes
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    left = [p for p in components if p.is_running()]
    for component in left:
        try:
            component.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still_running = psutil.wait_procs(left, timeout=10)
    for component in still_running:
        try:
            component.kill()
        except psutil.NoSuchProcess:
            pass
