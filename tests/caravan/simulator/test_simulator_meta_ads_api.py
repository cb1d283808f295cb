"""The Meta (Graph) shaped API, over real HTTP on a free local port."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests

from caravan.simulator.meta_ads_api import MetaAdsServer, make_server
from caravan.simulator.world import World

TOKEN = "EAAB-secret-token"
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 5)
DAYS = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
TIME_RANGE = json.dumps({"since": FIRST.isoformat(), "until": LAST.isoformat()})


@pytest.fixture(scope="module")
def server() -> Iterator[MetaAdsServer]:
    server = make_server(World(seed=42), page_size=4, access_token=TOKEN)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _account(server: MetaAdsServer, currency: str) -> str:
    return next(a.account_id for a in server.world.meta_ad_accounts() if a.currency == currency)


def _url(server: MetaAdsServer, account_id: str, edge: str) -> str:
    return f"{server.url}/v19.0/act_{account_id}/{edge}"


def _insights_params(**extra) -> dict[str, str]:
    return {
        "access_token": TOKEN,
        "level": "campaign",
        "time_range": TIME_RANGE,
        "time_increment": "1",
        **extra,
    }


def _follow(url: str, params: dict | None) -> list[dict]:
    """Every page, by following `paging.next` (a full URL) until it is absent."""
    pages = []
    while url:
        response = requests.get(url, params=params, timeout=5)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url, params = pages[-1].get("paging", {}).get("next"), None
    return pages


def test_insights_pages_follow_next_to_every_campaign_day_once(server):
    account_id = _account(server, "USD")
    pages = _follow(_url(server, account_id, "insights"), _insights_params(limit="4"))
    rows = [row for page in pages for row in page["data"]]
    campaigns = [c for c in server.world.meta_campaigns() if c.account_id == account_id]
    assert len(rows) == len(DAYS) * len(campaigns) == 15
    assert [len(page["data"]) for page in pages] == [4, 4, 4, 3]
    assert "next" not in pages[-1]["paging"]
    assert all("next" in page["paging"] for page in pages[:-1])
    keys = [(row["date_start"], int(row["campaign_id"])) for row in rows]
    assert keys == sorted(set(keys))
    assert {row["date_start"] for row in rows} == {day.isoformat() for day in DAYS}
    assert all(row["date_start"] == row["date_stop"] for row in rows)


def test_the_after_cursor_resumes_where_the_page_ended(server):
    url = _url(server, _account(server, "USD"), "insights")
    everything = requests.get(url, params=_insights_params(limit="15"), timeout=5).json()
    first = requests.get(url, params=_insights_params(limit="6"), timeout=5).json()
    after = first["paging"]["cursors"]["after"]
    second = requests.get(url, params=_insights_params(limit="6", after=after), timeout=5).json()
    assert first["data"] + second["data"] == everything["data"][:12]
    assert "next" not in everything["paging"]


def test_insights_are_shaped_like_graphs_and_report_the_worlds_spend(server):
    account_id = _account(server, "EUR")
    pages = _follow(_url(server, account_id, "insights"), _insights_params())
    rows = [row for page in pages for row in page["data"]]
    row = rows[0]
    assert set(row) == {
        "account_id", "account_name", "account_currency", "campaign_id", "campaign_name",
        "spend", "impressions", "clicks", "actions", "date_start", "date_stop",
    }  # fmt: skip
    assert row["account_id"] == account_id
    assert {r["account_currency"] for r in rows} == {"EUR"}
    for r in rows:
        assert isinstance(r["spend"], str) and Decimal(r["spend"]).as_tuple().exponent == -2
        assert r["impressions"].isdigit() and r["clicks"].isdigit()
        actions = {a["action_type"]: a["value"] for a in r["actions"]}
        assert actions["link_click"] == r["clicks"]
        assert all(isinstance(v, str) for v in actions.values())
    world = server.world
    expected = sum(
        r.spend
        for day in DAYS
        for r in world.meta_campaign_performance(day)
        if r.account_id == account_id
    )
    assert sum(Decimal(r["spend"]) for r in rows) == expected
    purchases = sum(
        int(a["value"]) for r in rows for a in r["actions"] if a["action_type"] == "purchase"
    )
    assert purchases == sum(
        r.purchases
        for day in DAYS
        for r in world.meta_campaign_performance(day)
        if r.account_id == account_id
    )


def test_adset_level_rows_add_up_to_the_campaign_level(server):
    url = _url(server, _account(server, "USD"), "insights")
    by_level = {}
    for level in ("campaign", "adset"):
        pages = _follow(url, _insights_params(level=level, limit="100"))
        by_level[level] = [row for page in pages for row in page["data"]]
    assert len(by_level["adset"]) == 2 * len(by_level["campaign"])
    for campaign_row in by_level["campaign"]:
        own = [
            r
            for r in by_level["adset"]
            if (r["campaign_id"], r["date_start"])
            == (campaign_row["campaign_id"], campaign_row["date_start"])
        ]
        assert sum(Decimal(r["spend"]) for r in own) == Decimal(campaign_row["spend"])
        assert all(r["adset_id"].startswith(campaign_row["campaign_id"][:-2]) for r in own)


def test_fields_limit_what_is_returned(server):
    url = _url(server, _account(server, "USD"), "insights")
    response = requests.get(url, params=_insights_params(fields="campaign_id,spend"), timeout=5)
    assert set(response.json()["data"][0]) == {"campaign_id", "spend", "date_start", "date_stop"}


def test_campaigns_and_adsets_are_listed_with_the_same_paging(server):
    world = server.world
    for account in world.meta_ad_accounts():
        campaigns = _follow(
            _url(server, account.account_id, "campaigns"), {"access_token": TOKEN, "limit": "2"}
        )
        rows = [row for page in campaigns for row in page["data"]]
        expected = [c for c in world.meta_campaigns() if c.account_id == account.account_id]
        assert [row["id"] for row in rows] == [c.campaign_id for c in expected]
        assert [row["daily_budget"] for row in rows] == [
            str(int(c.daily_budget * 100)) for c in expected
        ]
        adsets = _follow(
            _url(server, account.account_id, "adsets"),
            {"access_token": TOKEN, "limit": "2", "fields": "name,campaign_id"},
        )
        rows = [row for page in adsets for row in page["data"]]
        expected_ids = [
            a.adset_id for a in world.meta_adsets() if a.account_id == account.account_id
        ]
        assert [row["id"] for row in rows] == expected_ids
        assert set(rows[0]) == {"id", "name", "campaign_id"}


def _error(response: requests.Response) -> dict:
    return response.json()["error"]


def test_a_missing_token_is_400_and_a_wrong_one_401_in_graphs_shape(server):
    url = _url(server, _account(server, "USD"), "insights")
    params = _insights_params()
    missing = requests.get(url, params={**params, "access_token": ""}, timeout=5)
    assert missing.status_code == 400
    assert _error(missing)["type"] == "OAuthException" and _error(missing)["code"] == 190
    wrong = requests.get(url, params={**params, "access_token": "nope"}, timeout=5)
    assert wrong.status_code == 401 and _error(wrong)["code"] == 190
    bearer = requests.get(
        url,
        params={k: v for k, v in params.items() if k != "access_token"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert bearer.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"level": "account"},
        {"time_range": "last week"},
        {"time_range": json.dumps({"since": "2026-11-05", "until": "2026-11-01"})},
        {"time_range": ""},
        {"time_increment": "7"},
        {"fields": "spend,ctr"},
        {"limit": "0"},
        {"after": "bm90LWEtY3Vyc29y"},
    ],
)
def test_bad_parameters_are_400_with_code_100(server, params):
    url = _url(server, _account(server, "USD"), "insights")
    response = requests.get(url, params=_insights_params(**params), timeout=5)
    assert response.status_code == 400
    assert _error(response)["code"] == 100
    assert _error(response)["message"].startswith("(#100)")


def test_a_cursor_only_works_for_its_own_request(server):
    url = _url(server, _account(server, "USD"), "insights")
    first = requests.get(url, params=_insights_params(limit="2"), timeout=5).json()
    other = json.dumps({"since": FIRST.isoformat(), "until": FIRST.isoformat()})
    response = requests.get(
        url,
        params=_insights_params(time_range=other, after=first["paging"]["cursors"]["after"]),
        timeout=5,
    )
    assert response.status_code == 400


def test_an_unknown_account_or_path_is_refused(server):
    unknown = requests.get(_url(server, "123", "insights"), params=_insights_params(), timeout=5)
    assert unknown.status_code == 400
    assert _error(unknown)["type"] == "GraphMethodException"
    path = requests.get(f"{server.url}/v19.0/me/adaccounts", params={"access_token": TOKEN})
    assert path.status_code == 400 and _error(path)["code"] == 2500


def test_an_empty_page_has_no_paging(server):
    url = _url(server, _account(server, "USD"), "insights")
    first = requests.get(url, params=_insights_params(limit="500"), timeout=5).json()
    after = first["paging"]["cursors"]["after"]
    response = requests.get(url, params=_insights_params(after=after), timeout=5)
    assert response.json() == {"data": []}


def test_tokens_in_the_query_are_not_logged(server, caplog):
    with caplog.at_level(logging.INFO, logger="caravan.simulator.meta_ads_api"):
        _follow(_url(server, _account(server, "USD"), "insights"), _insights_params())
    assert "/insights" in caplog.text
    assert TOKEN not in caplog.text
