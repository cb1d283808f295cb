"""Fault knobs on every API: throttling storms, transient errors, slowness, malformed records."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
import requests

from caravan.simulator import crm, crm_api, google_ads_api, meta_ads_api
from caravan.simulator.faults import Faults, malformation, request_fault
from caravan.simulator.http_base import SimulatorServer
from caravan.simulator.world import World

WORLD = World(seed=3)
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
GOOGLE_HEADERS = {"Authorization": "Bearer t", "developer-token": "d"}
GOOGLE_QUERY = (
    "SELECT campaign.id, metrics.cost_micros, segments.date FROM campaign "
    f"WHERE segments.date BETWEEN '{DAYS[0]}' AND '{DAYS[-1]}'"
)
META_PARAMS = {
    "access_token": "t",
    "level": "campaign",
    "time_range": json.dumps({"since": str(DAYS[0]), "until": str(DAYS[-1])}),
    "time_increment": "1",
    "limit": "4",
}
CRM_HEADERS = {"Authorization": "Bearer t"}


@contextmanager
def serving(server: SimulatorServer) -> Iterator[SimulatorServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class RetryingClient:
    """Retries 429/5xx as a real client would (without really waiting), and counts them."""

    def __init__(self) -> None:
        self.faults: Counter[int] = Counter()
        self.retry_after: set[str] = set()

    def send(self, call: Callable[[], requests.Response]) -> dict:
        for _ in range(50):
            response = call()
            if response.status_code in (429, 500, 503):
                self.faults[response.status_code] += 1
                if response.status_code == 429:
                    self.retry_after.add(response.headers["Retry-After"])
                continue
            assert response.status_code == 200, response.text
            return response.json()
        raise AssertionError("50 faults in a row")


def google_rows(server: SimulatorServer, client: RetryingClient) -> list[dict]:
    url = f"{server.url}/v21/customers/{WORLD.google_ads_customer_id}/googleAds:search"
    rows, token = [], None
    while True:
        body = {"query": GOOGLE_QUERY, **({"pageToken": token} if token else {})}
        payload = client.send(lambda: requests.post(url, json=body, headers=GOOGLE_HEADERS))
        rows += payload["results"]
        token = payload.get("nextPageToken")
        if token is None:
            return rows


def meta_rows(server: SimulatorServer, client: RetryingClient, account_id: str) -> list[dict]:
    url, params, rows = f"{server.url}/v19.0/act_{account_id}/insights", META_PARAMS, []
    while url:
        payload = client.send(lambda: requests.get(url, params=params))
        rows += payload["data"]
        url, params = payload.get("paging", {}).get("next"), None
    return rows


def crm_rows(server: SimulatorServer, client: RetryingClient, object_type: str) -> list[dict]:
    url, params, rows = f"{server.url}/crm/v3/objects/{object_type}", {"limit": "5"}, []
    while url:
        payload = client.send(lambda: requests.get(url, params=params, headers=CRM_HEADERS))
        rows += payload["results"]
        url, params = payload.get("paging", {}).get("next", {}).get("link"), None
    return rows


def test_fault_decisions_are_repeatable_and_near_their_rate():
    statuses = [request_fault(1, "x", n, 0.3) for n in range(1, 2001)]
    assert statuses == [request_fault(1, "x", n, 0.3) for n in range(1, 2001)]
    counts = Counter(statuses)
    assert 0.25 <= 1 - counts[None] / 2000 <= 0.35
    assert set(counts) == {None, 429, 500, 503}
    assert counts[429] > counts[500]
    assert all(request_fault(1, "x", n, 0.0) is None for n in range(1, 200))
    assert all(malformation(1, 0.0, "e", str(n)) is None for n in range(200))


@pytest.mark.parametrize(
    "knobs", [{"fault_rate": 1.5}, {"malformed_rate": -0.1}, {"slow_seconds": -1}]
)
def test_knobs_out_of_range_are_refused(knobs):
    with pytest.raises(ValueError):
        Faults(**knobs)


def test_a_429_storm_still_yields_every_google_ads_row_to_a_retrying_client():
    with serving(google_ads_api.make_server(WORLD, page_size=4)) as calm:
        expected = google_rows(calm, RetryingClient())
    storm = Faults(fault_rate=0.5)
    with serving(google_ads_api.make_server(WORLD, page_size=4, faults=storm)) as server:
        client = RetryingClient()
        assert google_rows(server, client) == expected
    assert len(expected) == 5 * len(DAYS)
    assert client.faults[429] > 0 and sum(client.faults.values()) >= 3
    assert client.retry_after == {"1"}


def test_a_storm_still_yields_every_meta_row_and_crm_contact():
    storm = Faults(fault_rate=0.5)
    account = WORLD.meta_ad_accounts()[0].account_id
    with serving(meta_ads_api.make_server(WORLD)) as calm:
        expected_meta = meta_rows(calm, RetryingClient(), account)
    with serving(meta_ads_api.make_server(WORLD, faults=storm)) as server:
        client = RetryingClient()
        assert meta_rows(server, client, account) == expected_meta
        assert sum(client.faults.values()) > 0
    expected_ids = [c.contact_id for day in DAYS for c in crm.contacts_created_on(WORLD, day)]
    with serving(crm_api.make_server(WORLD, DAYS, faults=storm)) as server:
        client = RetryingClient()
        assert [r["id"] for r in crm_rows(server, client, "contacts")] == expected_ids
        assert client.faults[429] > 0


def _statuses(server: SimulatorServer, count: int) -> list[int]:
    url = f"{server.url}/crm/v3/objects/contacts"
    return [requests.get(url, headers=CRM_HEADERS).status_code for _ in range(count)]


def test_the_same_seed_and_request_count_give_the_same_faults():
    faults = Faults(fault_rate=0.4)
    with serving(crm_api.make_server(WORLD, DAYS, faults=faults)) as server:
        first = _statuses(server, 30)
    with serving(crm_api.make_server(WORLD, DAYS, faults=faults)) as server:
        assert _statuses(server, 30) == first
    assert set(first) >= {200, 429}
    expected = [request_fault(WORLD.seed, "crm", n, 0.4) or 200 for n in range(1, 31)]
    assert first == expected


def test_fault_bodies_keep_each_apis_error_shape():
    always = Faults(fault_rate=1.0)
    seen = {}
    with serving(google_ads_api.make_server(WORLD, faults=always)) as server:
        for _ in range(6):
            response = requests.post(server.url + "/v21/x", json={})
            seen[("google", response.status_code)] = response.json()["error"]["status"]
    assert seen.get(("google", 429)) == "RESOURCE_EXHAUSTED"
    with serving(meta_ads_api.make_server(WORLD, faults=always)) as server:
        response = requests.get(server.url + "/v19.0/act_1/insights")
        assert response.json()["error"]["type"] == "OAuthException"
    with serving(crm_api.make_server(WORLD, DAYS, faults=always)) as server:
        response = requests.get(server.url + "/crm/v3/objects/contacts")
        assert response.json()["status"] == "error"


def test_slow_seconds_delay_every_response():
    with serving(crm_api.make_server(WORLD, DAYS, faults=Faults(slow_seconds=0.2))) as server:
        started = time.monotonic()
        response = requests.get(f"{server.url}/crm/v3/objects/contacts", headers=CRM_HEADERS)
        assert response.status_code == 200
        assert time.monotonic() - started >= 0.2


def _google_key(row: dict, position: int) -> str:
    """Rows come by date then campaign id, so a row's position names it even without its id."""
    campaigns = sorted(WORLD.campaigns(), key=lambda c: int(c.campaign_id))
    day = DAYS[position // len(campaigns)]
    return f"{campaigns[position % len(campaigns)].campaign_id}:{day.isoformat()}"


def test_malformed_google_ads_rows_are_exactly_the_ones_ground_truth_names():
    truth = WORLD.ground_truth(DAYS, malformed_rate=0.3)
    expected = truth.malformed_records["google_ads/campaign_performance"]
    with serving(google_ads_api.make_server(WORLD, faults=Faults(malformed_rate=0.3))) as server:
        rows = google_rows(server, RetryingClient())
    found = {}
    for position, row in enumerate(rows):
        if "id" not in row["campaign"]:
            found[_google_key(row, position)] = "missing_id"
        elif not row["metrics"]["costMicros"].isdigit():
            found[_google_key(row, position)] = "wrong_type"
    assert found == expected
    assert set(found.values()) == {"missing_id", "wrong_type"}
    assert len(rows) == 5 * len(DAYS)


def test_malformed_meta_rows_and_crm_records_are_exactly_the_ones_ground_truth_names():
    rate = 0.25
    truth = WORLD.ground_truth(DAYS, malformed_rate=rate).malformed_records
    faults = Faults(malformed_rate=rate)
    found = {}
    with serving(meta_ads_api.make_server(WORLD, faults=faults)) as server:
        for account in WORLD.meta_ad_accounts():
            rows = meta_rows(server, RetryingClient(), account.account_id)
            ids = [
                (c.campaign_id, day)
                for day in DAYS
                for c in WORLD.meta_campaigns()
                if c.account_id == account.account_id
            ]
            for (campaign_id, day), row in zip(ids, rows, strict=True):
                key = f"campaign:{campaign_id}:{day}"
                if "campaign_id" not in row:
                    found[key] = "missing_id"
                elif row["spend"] == "N/A":
                    found[key] = "wrong_type"
    expected = {k: v for k, v in truth["meta_ads/insights"].items() if k.startswith("campaign:")}
    assert found == expected and expected

    with serving(crm_api.make_server(WORLD, DAYS, faults=faults)) as server:
        for object_type, records in (
            ("contacts", [c.contact_id for d in DAYS for c in crm.contacts_created_on(WORLD, d)]),
            ("deals", [x.deal_id for d in DAYS for x in crm.deals_created_on(WORLD, d)]),
        ):
            rows = crm_rows(server, RetryingClient(), object_type)
            found = {}
            for record_id, row in zip(records, rows, strict=True):
                if "id" not in row:
                    found[record_id] = "missing_id"
                elif (
                    row["updatedAt"] if object_type == "contacts" else row["properties"]["amount"]
                ) == "N/A":
                    found[record_id] = "wrong_type"
            assert found == truth[f"crm/{object_type}"] and found


def test_no_knobs_means_no_malformed_records_in_the_truth():
    assert WORLD.ground_truth(DAYS).malformed_records == {}
