"""Google Ads extraction through dlt's REST client against the simulator's real HTTP API.

Expected rows come from the simulator's ground truth (`World`), not from the client.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace

import pytest

from caravan.simulator.google_ads_api import GoogleAdsHandler, GoogleAdsServer, make_server
from caravan.simulator.world import World
from caravan.sources import SourceError
from caravan.sources.google_ads import GoogleAdsConfig, extract

WORLD = World(seed=7)
DAYS = [date(2026, 3, 1), date(2026, 3, 2)]
ACCESS_TOKEN = "ya29.secret-access-token"
DEVELOPER_TOKEN = "secret-developer-token"


class CountingHandler(GoogleAdsHandler):
    """The simulator's handler, counting the requests it answers."""

    def do_POST(self) -> None:
        self.server.requests += 1
        super().do_POST()


@pytest.fixture(scope="module")
def server() -> Iterator[GoogleAdsServer]:
    server = make_server(WORLD, page_size=3)
    server.RequestHandlerClass = CountingHandler
    server.requests = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def config(server: GoogleAdsServer, **overrides) -> GoogleAdsConfig:
    values = {
        "base_url": server.url,
        "customer_id": WORLD.google_ads_customer_id,
        "access_token": ACCESS_TOKEN,
        "developer_token": DEVELOPER_TOKEN,
        **overrides,
    }
    return GoogleAdsConfig(**values)


def extract_days(cfg: GoogleAdsConfig) -> list[dict]:
    return list(extract(cfg, "campaign_performance", DAYS[0].isoformat(), DAYS[-1].isoformat()))


def test_campaign_performance_follows_every_page(server):
    before = server.requests
    rows = extract_days(config(server))
    # 5 campaigns × 2 days = 10 rows, served 3 to a page: 4 requests (3 + 3 + 3 + 1).
    assert len(WORLD.campaigns()) == 5
    assert len(rows) == len(WORLD.campaigns()) * len(DAYS)
    assert server.requests - before == 4


def test_each_campaign_day_comes_exactly_once_with_the_worlds_cost(server):
    rows = extract_days(config(server))
    keys = Counter((row["segments"]["date"], row["campaign"]["id"]) for row in rows)
    assert set(keys.values()) == {1}

    expected = {
        (day.isoformat(), perf.campaign_id): str(perf.cost_micros)
        for day in DAYS
        for perf in WORLD.campaign_performance(day)
    }
    got = {(r["segments"]["date"], r["campaign"]["id"]): r["metrics"]["costMicros"] for r in rows}
    assert got == expected


def test_campaign_performance_carries_the_worlds_clicks_and_impressions(server):
    rows = extract_days(config(server))
    expected = {
        (day.isoformat(), perf.campaign_id): (str(perf.impressions), str(perf.clicks))
        for day in DAYS
        for perf in WORLD.campaign_performance(day)
    }
    got = {
        (r["segments"]["date"], r["campaign"]["id"]): (
            r["metrics"]["impressions"],
            r["metrics"]["clicks"],
        )
        for r in rows
    }
    assert got == expected


def test_campaign_rows_name_the_account_in_their_resource_name(server):
    rows = extract_days(config(server))
    cid = WORLD.google_ads_customer_id
    assert {r["campaign"]["resourceName"] for r in rows} == {
        f"customers/{cid}/campaigns/{c.campaign_id}" for c in WORLD.campaigns()
    }


def test_campaigns_snapshot_lists_every_campaign_once(server):
    rows = list(extract(config(server), "campaigns", "2026-03-01", "2026-03-01"))
    assert [(r["campaign"]["id"], r["campaign"]["name"]) for r in rows] == [
        (c.campaign_id, c.name) for c in WORLD.campaigns()
    ]


def test_a_single_day_window_returns_only_that_day(server):
    rows = list(extract(config(server), "campaign_performance", "2026-03-02", "2026-03-02"))
    assert {r["segments"]["date"] for r in rows} == {"2026-03-02"}
    assert len(rows) == len(WORLD.campaigns())


def test_an_empty_access_token_is_refused_with_401_and_not_retried(server):
    before = server.requests
    with pytest.raises(SourceError, match=r"^google_ads: .* answered HTTP 401 \(") as raised:
        extract_days(config(server, access_token=""))
    assert server.requests - before == 1
    response = raised.value.__cause__.response
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_missing_developer_token_is_refused_with_401_without_echoing_the_token(server):
    with pytest.raises(SourceError) as raised:
        extract_days(config(server, developer_token=""))
    assert "HTTP 401 (Missing developer-token header)" in str(raised.value)
    assert ACCESS_TOKEN not in str(raised.value)


def test_another_customers_account_is_refused_with_403(server):
    with pytest.raises(SourceError, match="customers/1234567890/.* HTTP 403") as raised:
        extract_days(config(server, customer_id="1234567890"))
    assert raised.value.__cause__.response.json()["error"]["status"] == "PERMISSION_DENIED"


def test_an_unknown_entity_is_refused_before_any_request():
    cfg = GoogleAdsConfig("http://127.0.0.1:9", "1", ACCESS_TOKEN, DEVELOPER_TOKEN)
    with pytest.raises(ValueError, match="google_ads: unknown entity 'ad_groups'"):
        extract(cfg, "ad_groups", "2026-03-01", "2026-03-01")


def test_config_repr_and_str_hide_the_tokens(server):
    cfg = config(server)
    for text in (repr(cfg), str(cfg), f"{cfg}", repr([cfg]), repr({"cfg": cfg})):
        assert ACCESS_TOKEN not in text
        assert DEVELOPER_TOKEN not in text
    assert WORLD.google_ads_customer_id in repr(cfg)
    assert server.url in repr(cfg)


def connection(**overrides) -> SimpleNamespace:
    """Stands for an Airflow Connection: the attributes `from_connection` reads."""
    values = {
        "conn_id": "google_ads_default",
        "host": "http://ads.example/",
        "password": ACCESS_TOKEN,
        "extra_dejson": {"customer_id": 1234567890, "developer_token": DEVELOPER_TOKEN},
        **overrides,
    }
    return SimpleNamespace(**values)


def test_config_from_connection():
    cfg = GoogleAdsConfig.from_connection(connection())
    assert cfg == GoogleAdsConfig("http://ads.example", "1234567890", ACCESS_TOKEN, DEVELOPER_TOKEN)


@pytest.mark.parametrize(
    "overrides",
    [
        {"password": None},
        {"host": ""},
        {"extra_dejson": {"customer_id": "1"}},
        {"extra_dejson": {"developer_token": DEVELOPER_TOKEN}},
    ],
)
def test_config_from_an_incomplete_connection_names_it_without_the_tokens(overrides):
    with pytest.raises(ValueError, match="connection 'google_ads_default'") as raised:
        GoogleAdsConfig.from_connection(connection(**overrides))
    assert ACCESS_TOKEN not in str(raised.value)
    assert DEVELOPER_TOKEN not in str(raised.value)
