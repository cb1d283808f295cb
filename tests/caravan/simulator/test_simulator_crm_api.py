"""The HubSpot-shaped CRM API, over real HTTP on a free local port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from caravan.simulator import crm
from caravan.simulator.crm_api import CrmServer, make_server
from caravan.simulator.world import World

WORLD = World(seed=5)
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(3)]
TOKEN = "pat-na1-secret"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[CrmServer]:
    server = make_server(WORLD, DAYS, page_size=7, access_token=TOKEN)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _day_window(day: date) -> tuple[str, str]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return _millis(start), _millis(start + timedelta(days=1) - timedelta(milliseconds=1))


def _list_all(server: CrmServer, object_type: str, **params) -> list[dict]:
    """Follow `paging.next.link` to the end."""
    results, url = [], f"{server.url}/crm/v3/objects/{object_type}"
    query: dict | None = params
    while url:
        response = requests.get(url, params=query, headers=HEADERS, timeout=5)
        assert response.status_code == 200, response.text
        payload = response.json()
        results += payload["results"]
        url, query = payload.get("paging", {}).get("next", {}).get("link"), None
    return results


def _search_all(server: CrmServer, object_type: str, body: dict) -> tuple[list[dict], list[int]]:
    """Follow `paging.next.after` to the end; also return the `total` of each page."""
    results, totals, after = [], [], None
    while True:
        request = {**body, **({"after": after} if after else {})}
        response = requests.post(
            f"{server.url}/crm/v3/objects/{object_type}/search",
            json=request,
            headers=HEADERS,
            timeout=5,
        )
        assert response.status_code == 200, response.text
        payload = response.json()
        results += payload["results"]
        totals.append(payload["total"])
        after = payload.get("paging", {}).get("next", {}).get("after")
        if after is None:
            return results, totals


def test_listing_contacts_follows_paging_to_every_contact_once(server):
    results = _list_all(server, "contacts", limit="7")
    expected = [c.contact_id for day in DAYS for c in crm.contacts_created_on(WORLD, day)]
    assert [r["id"] for r in results] == expected
    assert len(expected) > 14  # more than two pages
    first = results[0]
    assert set(first) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert first["archived"] is False
    # The default properties, plus those HubSpot always sends.
    assert set(first["properties"]) == {
        "email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id",
    }  # fmt: skip
    assert first["properties"]["hs_object_id"] == first["id"]


def test_contacts_carry_the_worlds_values_as_strings(server):
    results = _list_all(server, "contacts", limit="100", properties="email,lifecyclestage")
    contact = crm.contacts_created_on(WORLD, DAYS[0])[0]
    record = next(r for r in results if r["id"] == contact.contact_id)
    assert record["properties"]["email"] == contact.email
    assert record["properties"]["lifecyclestage"] == contact.lifecycle_stage
    assert "firstname" not in record["properties"]
    created = contact.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert record["createdAt"] == record["properties"]["createdate"] == created
    assert record["updatedAt"] == contact.updated_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_searching_a_lastmodifieddate_window_returns_exactly_that_days_contacts(server):
    low, high = _day_window(DAYS[1])
    body = {
        "filterGroups": [
            {
                "filters": [
                    {
                        "propertyName": "lastmodifieddate",
                        "operator": "BETWEEN",
                        "value": low,
                        "highValue": high,
                    }
                ]
            }
        ],
        "properties": ["email", "lifecyclestage"],
        "limit": 4,
    }
    results, totals = _search_all(server, "contacts", body)
    expected = [c.contact_id for c in crm.contacts_created_on(WORLD, DAYS[1])]
    assert [r["id"] for r in results] == expected
    assert set(totals) == {len(expected)}
    assert "lifecyclestage" in results[0]["properties"]
    # The same window as a GTE/LT pair, in ISO-8601 this time.
    iso = {
        "filterGroups": [
            {
                "filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2026-11-02"},
                    {"propertyName": "lastmodifieddate", "operator": "LT", "value": "2026-11-03"},
                ]
            }
        ],
        "limit": 200,
    }
    assert [r["id"] for r in _search_all(server, "contacts", iso)[0]] == expected


def test_filter_groups_are_ored(server):
    groups = []
    for day in (DAYS[0], DAYS[2]):
        low, high = _day_window(day)
        groups.append(
            {
                "filters": [
                    {"propertyName": "lastmodifieddate", "operator": "GTE", "value": low},
                    {"propertyName": "lastmodifieddate", "operator": "LTE", "value": high},
                ]
            }
        )
    results, _ = _search_all(server, "contacts", {"filterGroups": groups, "limit": 50})
    expected = [c.contact_id for d in (DAYS[0], DAYS[2]) for c in crm.contacts_created_on(WORLD, d)]
    assert [r["id"] for r in results] == expected


def test_deal_search_returns_amounts_stages_and_the_contact(server):
    low, high = _day_window(DAYS[0])
    window = {"propertyName": "hs_lastmodifieddate", "operator": "BETWEEN"}
    body = {
        "filterGroups": [{"filters": [{**window, "value": low, "highValue": high}]}],
        "properties": ["dealname", "amount", "dealstage", "shop_order_id"],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 9,
    }
    results, _ = _search_all(server, "deals", body)
    deals = crm.deals_created_on(WORLD, DAYS[0])
    assert sorted(r["id"] for r in results) == sorted(d.deal_id for d in deals)
    modified = [r["properties"]["hs_lastmodifieddate"] for r in results]
    assert modified == sorted(modified)
    assert sum(Decimal(r["properties"]["amount"]) for r in results) == sum(d.amount for d in deals)
    by_order = {r["properties"]["shop_order_id"]: r for r in results}
    for order in WORLD.orders_on(DAYS[0]):
        deal = by_order[str(order.order_id)]
        contact = deal["associations"]["contacts"]["results"][0]
        assert contact["type"] == "deal_to_contact"
        expected = crm.contact_for_customer(WORLD, WORLD.customer(order.customer_id))
        assert contact["id"] == expected.contact_id


def test_listing_deals_covers_every_day(server):
    results = _list_all(server, "deals", limit="100")
    assert len(results) == sum(len(crm.deals_created_on(WORLD, day)) for day in DAYS)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer wrong"}]
)
def test_a_missing_or_wrong_bearer_token_is_401(server, headers):
    response = requests.get(f"{server.url}/crm/v3/objects/contacts", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["status"] == "error"
    assert response.json()["category"] == "INVALID_AUTHENTICATION"


@pytest.mark.parametrize(
    "body",
    [
        {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": 1}]}]},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "createdate", "operator": "LIKE", "value": 1}]}
            ]
        },
        {
            "filterGroups": [
                {"filters": [{"propertyName": "createdate", "operator": "GT", "value": "soon"}]}
            ]
        },
        {"limit": 201},
        {"limit": 100, "after": "9950"},
        {"after": "abc"},
        {"sorts": [{"propertyName": "email"}]},
    ],
)
def test_bad_searches_are_400_validation_errors(server, body):
    response = requests.post(
        f"{server.url}/crm/v3/objects/contacts/search", json=body, headers=HEADERS, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_an_unknown_object_type_is_404(server):
    response = requests.get(f"{server.url}/crm/v3/objects/tickets", headers=HEADERS, timeout=5)
    assert response.status_code == 404
