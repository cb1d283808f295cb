"""`caravan up`'s servers listen on this machine only, unless CARAVAN_BIND_HOST opens them.

Here, what Airflow's own configuration makes of the setting. That every server a running
`caravan up` started listens on 127.0.0.1 only is checked on the `caravan up` of
tests/e2e/test_airflow_backfill.py, after its backfill.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from caravan.airflow_env import airflow_environ
from caravan.settings import Settings


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
