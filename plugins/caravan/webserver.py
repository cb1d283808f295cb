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
from caravan.runner import embedded_sources, ensure_manifest, window
from caravan.settings import Settings

URL = "http://localhost:8080"
USER = "admin"
STARTUP_TIMEOUT_SECONDS = 180


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
    ensure_manifest(settings)
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
            if process.poll() is None:
                # `airflow standalone` stops its components (scheduler, API server, ...) only
                # on SIGINT; SIGTERM would end it alone and leave them running.
                if not interrupted:
                    process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
