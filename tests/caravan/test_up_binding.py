"""`caravan up`'s servers listen on this machine only, unless CARAVAN_BIND_HOST opens them.

The components are started as `caravan up` starts them (webserver.start_components, with
airflow_env's environment), each server on a free port rather than 8080/8793 so that a
`caravan up` running beside the tests is not in the way.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from caravan.airflow_env import airflow_environ
from caravan.settings import Settings
from caravan.webserver import admin_password, components, start_components, stop_components

HEALTHY_WITHIN_SECONDS = 300
COMPONENTS_HEALTH = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environ(home: Path, **settings: str) -> dict[str, str]:
    """This environment without its Airflow and Caravan settings, then airflow_env's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "CARAVAN_"))}
    caravan = Settings.from_env({"CARAVAN_HOME": str(home), **settings})
    return {**env, **airflow_environ(caravan)}


def python(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def health(url: str) -> dict:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
            return json.load(response)
    except OSError:
        return {}


def listening(processes: list[psutil.Process]) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of `processes` and their children."""
    found = set()
    for process in processes:
        try:
            tree = [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in tree:
            try:
                connections = member.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            found |= {c.laddr[:2] for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def test_every_server_caravan_up_starts_listens_on_127_0_0_1_only(tmp_path):
    api_port, log_port = free_port(), free_port()
    env = environ(tmp_path)
    env.update(
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(log_port),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(log_port),
    )
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    admin_password(Settings.from_env({"CARAVAN_HOME": str(tmp_path)}))
    url = f"http://127.0.0.1:{api_port}"
    # What Airflow's own log servers would have taken: a listener there would be one of them.
    airflow_log_ports = {8793, 8794}

    with (tmp_path / "up.log").open("a") as log:
        processes = start_components(env, log)
        try:
            assert set(processes) == set(components())
            deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
            while True:  # every component has started (and, had it one, its log server)
                status = health(url)
                if all(
                    status.get(part, {}).get("status") == "healthy" for part in COMPONENTS_HEALTH
                ):
                    break
                ended = {n: p.returncode for n, p in processes.items() if p.poll() is not None}
                log_tail = (tmp_path / "up.log").read_text()[-4000:]
                assert not ended, f"ended: {ended}\n{log_tail}"
                assert time.monotonic() < deadline, f"not healthy: {status}\n{log_tail}"
                time.sleep(2)

            sockets = listening([psutil.Process(p.pid) for p in processes.values()])
            assert ("127.0.0.1", api_port) in sockets
            assert listening([psutil.Process(processes["log-server"].pid)]) == {
                ("127.0.0.1", log_port)
            }
            assert {address for address, _ in sockets} == {"127.0.0.1"}, sockets
            assert not {port for _, port in sockets} & airflow_log_ports, sockets
            # Airflow's own log server, had the scheduler or the triggerer started one, would
            # want the same port as Caravan's: the one that lost would end at once, unseen
            # by the sockets above. It says it starts, whichever wins.
            assert "Starting log server on" not in (tmp_path / "up.log").read_text()

            # The API server's way to a running task's log: http://<hostname>:<port>, with a
            # token signed by the key every component shares. It reaches this log server.
            logs = Path(env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
            (logs / "probe").mkdir(parents=True, exist_ok=True)
            (logs / "probe" / "attempt=1.log").write_text("a line of a running task\n")
            fetched = python(
                "from airflow.utils.net import get_hostname\n"
                "from airflow.utils.log.file_task_handler import _fetch_logs_from_service\n"
                f"url = f'http://{{get_hostname()}}:{log_port}/log/probe/attempt=1.log'\n"
                "response = _fetch_logs_from_service(url, 'probe/attempt=1.log')\n"
                "print(url, response.status_code, repr(response.text))",
                env,
            )
            assert fetched == (
                f"http://127.0.0.1:{log_port}/log/probe/attempt=1.log 200"
                " 'a line of a running task\\n'"
            )
        finally:
            stop_components(processes, interrupted=False)
    assert all(p.poll() is not None for p in processes.values())


def test_caravan_bind_host_opens_the_servers_deliberately(tmp_path):
    """Read by Airflow's own config parser and hostname callable, in a fresh process."""
    code = (
        "from airflow.configuration import conf\n"
        "from airflow.utils.net import get_hostname\n"
        "print(conf.get('api', 'host'), conf.get('core', 'execution_api_server_url'),"
        " get_hostname())"
    )
    assert python(code, environ(tmp_path)) == (
        "127.0.0.1 http://127.0.0.1:8080/execution/ 127.0.0.1"
    )
    # On every interface, this machine goes by its name, as Airflow's default names it.
    default_name = "\nfrom airflow.utils.net import getfqdn\nprint(get_hostname() == getfqdn())"
    opened = python(code + default_name, environ(tmp_path, CARAVAN_BIND_HOST="0.0.0.0"))
    assert opened == "True"
    opened = python(code, environ(tmp_path, CARAVAN_BIND_HOST="0.0.0.0"))
    assert opened.startswith("0.0.0.0 http://127.0.0.1:8080/execution/ ")
    on_one_interface = python(code, environ(tmp_path, CARAVAN_BIND_HOST="10.1.2.3"))
    assert on_one_interface == "10.1.2.3 http://10.1.2.3:8080/execution/ 10.1.2.3"
