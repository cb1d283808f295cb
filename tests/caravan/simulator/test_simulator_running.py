"""Starting and stopping the simulator as a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import date

import pytest
import requests

from caravan.settings import Settings
from caravan.simulator import running_simulator


def test_serve_prints_its_url_first_and_stops_on_sigint():
    process = subprocess.Popen(
        [sys.executable, "-m", "caravan.simulator", "serve", "--port", "0", "--page-size", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        assert re.fullmatch(r"listening on http://127\.0\.0\.1:\d+\n", first_line)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_running_simulator_serves_both_systems_and_stops_the_server(tmp_path):
    settings = Settings.from_env({"CARAVAN_HOME": str(tmp_path), "CARAVAN_SEED": "7"})
    with running_simulator(settings, [date(2026, 11, 1)]) as simulator:
        assert simulator.shop_db_url == f"sqlite:///{tmp_path / 'sources' / 'shop.db'}"
        assert (tmp_path / "sources" / "shop.db").stat().st_size > 0
        assert simulator.world.seed == 7
        customer_id = simulator.world.google_ads_customer_id
        response = requests.post(
            f"{simulator.google_ads_url}/v21/customers/{customer_id}/googleAds:search",
            json={"query": "SELECT campaign.id FROM campaign WHERE segments.date = '2026-11-01'"},
            headers={"Authorization": "Bearer t", "developer-token": "d"},
            timeout=5,
        )
        assert response.status_code == 200
        assert len(response.json()["results"]) == 5
        pid = simulator.pid

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.post(simulator.google_ads_url, timeout=2)


def test_a_server_that_does_not_start_in_time_is_reported_and_stopped(tmp_path):
    settings = Settings.from_env({"CARAVAN_HOME": str(tmp_path)})
    with pytest.raises(TimeoutError, match=r"printed no URL within .*simulator\.log"):
        with running_simulator(settings, [], startup_timeout=0.001):
            pass  # pragma: no cover
    assert (tmp_path / "sources" / "shop.db").exists()
