"""Starting and stopping the simulator as a subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import date, timedelta

import pytest
import requests

from caravan.settings import Settings
from caravan.simulator import Faults, crm, running_simulator
from caravan.simulator.issue_tracker_api import OWNER, REPO
from caravan.simulator.text import issues_created_on


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
        for name in ("meta_ads", "crm"):
            line = process.stdout.readline()
            assert re.fullmatch(rf"{name} listening on http://127\.0\.0\.1:\d+\n", line)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_running_simulator_serves_every_system_and_stops_the_servers(tmp_path):
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

        world = simulator.world
        account = world.meta_ad_accounts()[1]
        insights = requests.get(
            f"{simulator.meta_ads_url}/v19.0/act_{account.account_id}/insights",
            params={
                "access_token": "t",
                "level": "campaign",
                "time_range": '{"since":"2026-11-01","until":"2026-11-01"}',
            },
            timeout=5,
        ).json()
        assert {row["account_currency"] for row in insights["data"]} == {"EUR"}
        assert len(insights["data"]) == 2  # the EUR account's two campaigns

        contacts = requests.get(
            f"{simulator.crm_url}/crm/v3/objects/contacts",
            params={"limit": 100},
            headers={"Authorization": "Bearer t"},
            timeout=5,
        ).json()
        expected = [c.contact_id for c in crm.contacts_created_on(world, date(2026, 11, 1))]
        assert [r["id"] for r in contacts["results"]] == expected

        landing = tmp_path / "sources" / "landing"
        assert simulator.web_analytics_dir == landing / "web_analytics"
        assert simulator.sales_ops_dir == landing / "sales_ops"
        assert [p.name for p in simulator.web_analytics_dir.iterdir()] == ["events_20261101.ndjson"]
        assert sorted(p.name for p in (simulator.sales_ops_dir / "2026-11-01").iterdir()) == [
            "accounting.jsonl",
            "sales.jsonl",
            "shipping.jsonl",
        ]
        # The rates file repeats the last 14 days, as the ECB's history feed does.
        [rates] = simulator.fx_rates_dir.iterdir()
        lines = rates.read_text().splitlines()
        assert (rates.name, lines[0]) == (
            "rates_2026-11-01.csv",
            "date,currency,quote_currency,rate",
        )
        assert [line.split(",")[0] for line in lines[1:]] == [
            (date(2026, 11, 1) - timedelta(days=n)).isoformat() for n in range(13, -1, -1)
        ]
        assert lines[-1] == f"2026-11-01,EUR,USD,{world.fx_rate(date(2026, 11, 1), 'EUR')}"
        pid = simulator.pid

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    for url in (simulator.google_ads_url, simulator.meta_ads_url, simulator.crm_url):
        with pytest.raises(requests.ConnectionError):
            requests.post(url, timeout=2)


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_fault_knobs_reach_the_servers_and_the_file_drops(tmp_path):
    settings = Settings.from_env({"CARAVAN_HOME": str(tmp_path)})
    faults = Faults(fault_rate=1.0, malformed_rate=0.05)
    days = [date(2026, 11, 1)]
    with running_simulator(settings, days, faults=faults) as simulator:
        response = requests.get(f"{simulator.crm_url}/crm/v3/objects/contacts", timeout=5)
        assert response.status_code in (429, 500, 503)
        truth = simulator.world.ground_truth(days, malformed_rate=0.05).malformed_records
    lines = (simulator.web_analytics_dir / "events_20261101.ndjson").read_text().splitlines()
    broken = {n for n, line in enumerate(lines, start=1) if not _is_json(line)}
    expected = {
        int(key.rsplit(":", 1)[1])
        for key, kind in truth["web_analytics/events"].items()
        if kind == "bad_json"
    }
    assert broken == expected and broken


def test_a_server_that_does_not_start_in_time_is_reported_and_stopped(tmp_path):
    settings = Settings.from_env({"CARAVAN_HOME": str(tmp_path)})
    with pytest.raises(TimeoutError, match=r"printed no URL within .*simulator\.log"):
        with running_simulator(settings, [], startup_timeout=0.001):
            pass  # pragma: no cover
    assert (tmp_path / "sources" / "shop.db").exists()


def test_a_rerun_of_an_earlier_day_serves_the_tracker_and_the_crm_as_they_stand_now(tmp_path):
    """After days 1–2, a run of day 1 alone sees every issue and contact of both days,
    each issue as it stood at the end of day 2, as the shop DB keeps its latest state:
    otherwise the rerun's day-1 window would hold issues the first run put in day 2's."""
    settings = Settings.from_env({"CARAVAN_HOME": str(tmp_path), "CARAVAN_SEED": "42"})
    first, second = date(2026, 11, 1), date(2026, 11, 2)
    with running_simulator(settings, [first, second]):
        pass
    with running_simulator(settings, [first]) as simulator:
        records = requests.get(
            f"{simulator.issue_tracker_url}/repos/{OWNER}/{REPO}/issues",
            params={"state": "all", "per_page": 100},
            headers={"Authorization": "Bearer t"},
            timeout=5,
        ).json()
        contacts = requests.get(
            f"{simulator.crm_url}/crm/v3/objects/contacts",
            params={"limit": 100},
            headers={"Authorization": "Bearer t"},
            timeout=5,
        ).json()["results"]
        world = simulator.world
    created = {
        issue.number: issue.created_at.date()
        for day in (first, second)
        for issue in issues_created_on(world, day)
    }
    assert sorted(r["number"] for r in records) == sorted(created)
    # An issue of day 1 that changed on day 2 shows that change.
    assert any(
        created[r["number"]] == first and r["updated_at"].startswith("2026-11-02") for r in records
    )
    assert {c["id"] for c in contacts} == {
        c.contact_id for day in (first, second) for c in crm.contacts_created_on(world, day)
    }
    assert json.loads((tmp_path / "sources" / "served_days.json").read_text()) == [
        "2026-11-01",
        "2026-11-02",
    ]
