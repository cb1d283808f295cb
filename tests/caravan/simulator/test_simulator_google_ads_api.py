"""The Google Ads-shaped API, over real HTTP on a free local port."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import date

import pytest
import requests

from caravan.simulator.google_ads_api import GoogleAdsServer, make_server
from caravan.simulator.world import World

PAGE_SIZE = 7
HEADERS = {"Authorization": "Bearer secret-access-token", "developer-token": "secret-dev-token"}
WEEK_QUERY = (
    "SELECT campaign.id, campaign.name, metrics.cost_micros, metrics.impressions, "
    "metrics.clicks, metrics.conversions, segments.date FROM campaign "
    "WHERE segments.date BETWEEN '2026-11-01' AND '2026-11-05' ORDER BY segments.date"
)
AD_GROUP_QUERY = (
    "SELECT ad_group.id, ad_group.name, ad_group.status, ad_group.campaign, campaign.id, "
    "campaign.name FROM ad_group"
)


@pytest.fixture(scope="module")
def server() -> Iterator[GoogleAdsServer]:
    server = make_server(World(seed=42), page_size=PAGE_SIZE)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def small_pages_server() -> Iterator[GoogleAdsServer]:
    """Pages of three, so the ad groups (10 to 15 of them) span several pages."""
    server = make_server(World(seed=42), page_size=3)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _search_url(server: GoogleAdsServer, customer_id: str | None = None) -> str:
    customer_id = customer_id or server.world.google_ads_customer_id
    return f"{server.url}/v21/customers/{customer_id}/googleAds:search"


def _all_pages(server: GoogleAdsServer, query: str) -> list[list[dict]]:
    pages, token = [], None
    with requests.Session() as session:
        while True:
            body = {"query": query, **({"pageToken": token} if token else {})}
            response = session.post(_search_url(server), json=body, headers=HEADERS, timeout=5)
            response.raise_for_status()
            payload = response.json()
            pages.append(payload["results"])
            token = payload.get("nextPageToken")
            if token is None:
                return pages


def test_pagination_returns_every_campaign_day_once_in_date_then_id_order(server):
    pages = _all_pages(server, WEEK_QUERY)
    rows = [row for page in pages for row in page]
    keys = [(row["segments"]["date"], int(row["campaign"]["id"])) for row in rows]
    assert len(rows) == 5 * 5  # five campaigns × five days
    assert [len(page) for page in pages] == [7, 7, 7, 4]
    assert len(set(keys)) == len(keys)
    assert keys == sorted(keys)
    assert {day for day, _ in keys} == {f"2026-11-0{n}" for n in range(1, 6)}


def test_performance_rows_are_shaped_like_googles(server):
    response = requests.post(
        _search_url(server),
        json={"query": "SELECT campaign.id FROM campaign WHERE segments.date = '2026-11-01'"},
        headers=HEADERS,
        timeout=5,
    )
    assert response.status_code == 200
    payload = response.json()
    assert "nextPageToken" not in payload
    assert "metrics.costMicros" in payload["fieldMask"].split(",")
    row = payload["results"][0]
    cid = server.world.google_ads_customer_id
    assert set(row) == {"campaign", "metrics", "segments"}
    assert row["campaign"]["resourceName"] == f"customers/{cid}/campaigns/{row['campaign']['id']}"
    assert row["campaign"]["name"] == "Brand Search"
    assert row["segments"] == {"date": "2026-11-01"}
    metrics = row["metrics"]
    assert set(metrics) == {"costMicros", "impressions", "clicks", "conversions"}
    for int64 in ("costMicros", "impressions", "clicks"):
        assert isinstance(metrics[int64], str) and metrics[int64].isdigit()
    assert int(metrics["costMicros"]) % 10_000 == 0
    assert isinstance(metrics["conversions"], float)


def test_the_api_reports_the_worlds_spend(server):
    rows = [row for page in _all_pages(server, WEEK_QUERY) for row in page]
    api_micros = sum(int(row["metrics"]["costMicros"]) for row in rows)
    days = {date.fromisoformat(row["segments"]["date"]) for row in rows}
    world_micros = sum(
        perf.cost_micros for day in days for perf in server.world.campaign_performance(day)
    )
    assert api_micros == world_micros


def test_campaigns_without_a_date_filter(server):
    response = requests.post(
        _search_url(server),
        json={"query": "SELECT campaign.id, campaign.name, campaign.status FROM campaign"},
        headers=HEADERS,
        timeout=5,
    )
    rows = [row["campaign"] for row in response.json()["results"]]
    assert len(rows) == 5
    assert {row["status"] for row in rows} == {"ENABLED"}
    assert {row["advertisingChannelType"] for row in rows} == {
        "SEARCH",
        "PERFORMANCE_MAX",
        "SHOPPING",
        "DISPLAY",
    }
    assert "metrics" not in response.json()["results"][0]


def test_pagination_returns_every_ad_group_once_in_id_order(small_pages_server):
    pages = _all_pages(small_pages_server, AD_GROUP_QUERY + " ORDER BY ad_group.id")
    ids = [row["adGroup"]["id"] for page in pages for row in page]
    expected = [g.ad_group_id for g in small_pages_server.world.ad_groups()]
    assert len(pages) >= 4
    assert all(len(page) == 3 for page in pages[:-1])
    assert ids == expected
    assert len(set(ids)) == len(ids)


def test_ad_group_rows_are_shaped_like_googles(server):
    response = requests.post(
        _search_url(server), json={"query": AD_GROUP_QUERY}, headers=HEADERS, timeout=5
    )
    assert response.status_code == 200
    payload = response.json()
    assert "adGroup.campaign" in payload["fieldMask"].split(",")
    cid = server.world.google_ads_customer_id
    groups = {g.ad_group_id: g for g in server.world.ad_groups()}
    campaigns = {c.campaign_id: c for c in server.world.campaigns()}
    assert payload["results"]
    for row in payload["results"]:
        assert set(row) == {"adGroup", "campaign"}
        group, campaign = row["adGroup"], row["campaign"]
        world_group = groups[group["id"]]
        campaign_id = world_group.campaign_id
        assert group == {
            "resourceName": f"customers/{cid}/adGroups/{world_group.ad_group_id}",
            "id": world_group.ad_group_id,
            "name": world_group.name,
            "status": world_group.status,
            "campaign": f"customers/{cid}/campaigns/{campaign_id}",
        }
        assert campaign == {
            "resourceName": f"customers/{cid}/campaigns/{campaign_id}",
            "id": campaign_id,
            "name": campaigns[campaign_id].name,
        }
        assert "metrics" not in row and "segments" not in row


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"developer-token": "dev"},
        {"Authorization": "Bearer ", "developer-token": "dev"},
        {"Authorization": "Basic abc", "developer-token": "dev"},
        {"Authorization": "Bearer abc"},
    ],
)
def test_missing_credentials_are_refused_with_401(server, headers):
    response = requests.post(_search_url(server), json={"query": WEEK_QUERY}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_another_customer_is_forbidden(server):
    response = requests.post(
        _search_url(server, customer_id="1111111111"), json={"query": WEEK_QUERY}, headers=HEADERS
    )
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    "body",
    [
        {"query": "DROP TABLE campaign"},
        {"query": "SELECT ad_group_ad.ad.id FROM ad_group_ad"},
        {"query": f"{AD_GROUP_QUERY} WHERE segments.date = '2026-11-01'"},
        {"query": "SELECT campaign.id FROM campaign WHERE campaign.status = 'ENABLED'"},
        {"query": "SELECT campaign.id FROM campaign WHERE segments.date = '2026-13-01'"},
        {
            "query": "SELECT campaign.id FROM campaign "
            "WHERE segments.date BETWEEN '2026-11-05' AND '2026-11-01'"
        },
        {},
        {"query": WEEK_QUERY, "pageToken": "not-a-token"},
    ],
)
def test_bad_requests_get_400_in_googles_error_shape(server, body):
    response = requests.post(_search_url(server), json=body, headers=HEADERS, timeout=5)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"]


def test_a_page_token_only_works_for_its_own_query(server):
    first = requests.post(
        _search_url(server), json={"query": WEEK_QUERY}, headers=HEADERS, timeout=5
    ).json()
    other_query = WEEK_QUERY.replace("2026-11-05", "2026-11-06")
    response = requests.post(
        _search_url(server),
        json={"query": other_query, "pageToken": first["nextPageToken"]},
        headers=HEADERS,
        timeout=5,
    )
    assert response.status_code == 400


def test_an_unknown_path_is_404(server):
    response = requests.post(f"{server.url}/v21/customers/1/other", json={}, headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_requests_are_logged_without_tokens(server, caplog):
    with caplog.at_level(logging.INFO, logger="caravan.simulator.google_ads_api"):
        requests.post(_search_url(server), json={"query": WEEK_QUERY}, headers=HEADERS, timeout=5)
    assert "googleAds:search" in caplog.text
    assert "secret-access-token" not in caplog.text
    assert "secret-dev-token" not in caplog.text
