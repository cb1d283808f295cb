"""The `rest_api` kind: the real registry's Google Ads, Meta and CRM entries, read over real
HTTP from the simulator's APIs through Airflow connections, the way an ingest DAG reads them.

Expected records come from the simulator's World (what each API serves, and its ground
truth of malformed records) and from reading the registry by hand, never from the code
under test. The simulator's request log (one line per request with its status) tells how
many requests a read took and whether the storm hit it.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from airflow.sdk import Connection

from caravan.lake import Lake, Partition
from caravan.runner import connection_variable, simulator_connections
from caravan.settings import Settings
from caravan.simulator import (
    Faults,
    RunningSimulator,
    World,
    crm,
    crm_api,
    meta_ads_api,
    running_simulator,
)
from caravan.simulator.__main__ import parse_args
from caravan.simulator.faults import (
    MISSING_ID,
    WRONG_TYPE,
    google_performance_key,
    meta_insights_key,
)
from caravan.sources import Delivered, SourceError
from caravan.sources.extract import deliveries
from caravan.sources.ingest import publish, stage
from caravan.sources.registry import SourceSpec, load_registry
from caravan.sources.rest_api import RestConnection

REPO = Path(__file__).resolve().parents[3]
REGISTRY = load_registry(REPO / "dags" / "sources.yaml")
GOOGLE, META, CRM = REGISTRY["google_ads"], REGISTRY["meta_ads"], REGISTRY["crm"]

SEED = 42
DS = "2026-03-05"
DAY = date.fromisoformat(DS)
# The CRM holds the day before and after too, so its window has neighbours to leave out.
CRM_DAYS = [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
# At scale 5 the CRM changes 120 contacts and 201 deals on DS: more than the registry's
# `limit: 100`, so each read spans pages.
SCALE = 5
WORLD = World(seed=SEED, scale=SCALE)
SEARCH_LIMIT = 100  # dags/sources.yaml, crm entities: json.limit
GOOGLE_PAGE_SIZE = parse_args(["serve"]).page_size  # what running_simulator's Google serves
MALFORMED_RATE = 0.1
TOKEN = "guarded-secret-token"

_REQUEST_LINE = re.compile(r'caravan\.simulator\.(\w+) \S+ "(\w+) (\S+) HTTP/[\d.]+" (\d{3})')


@dataclass(frozen=True)
class Request:
    api: str  # the simulator module: google_ads_api, meta_ads_api, crm_api
    method: str
    path: str
    status: int


@dataclass(frozen=True)
class Simulator:
    """A running simulator and its request log (one line per request, status included)."""

    running: RunningSimulator
    log: Path

    def mark(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def requests_since(self, mark: int) -> list[Request]:
        with self.log.open("rb") as log:
            log.seek(mark)
            text = log.read().decode()
        return [Request(m[1], m[2], m[3], int(m[4])) for m in _REQUEST_LINE.finditer(text)]


def start(tmp: Path, days: list[date], scale: float, faults: Faults) -> Iterator[Simulator]:
    settings = Settings.from_env({"CARAVAN_HOME": str(tmp), "CARAVAN_SEED": str(SEED)})
    with running_simulator(settings, days, scale=scale, faults=faults) as running:
        yield Simulator(running, settings.logs_dir / "simulator.log")


@pytest.fixture(scope="module")
def simulator(tmp_path_factory) -> Iterator[Simulator]:
    yield from start(tmp_path_factory.mktemp("calm"), CRM_DAYS, SCALE, Faults())


def connection(sim: Simulator, source: SourceSpec, **changes) -> Connection:
    """The Airflow connection the runner points at the simulator, with `changes` applied
    (`extra` entries are merged into the connection's extra)."""
    values = json.loads(simulator_connections(sim.running)[connection_variable(source.conn_id)])
    extra = {**values.get("extra", {}), **changes.pop("extra", {})}
    values.update(changes)
    return Connection(
        conn_id=source.conn_id,
        conn_type=values["conn_type"],
        host=values["host"],
        password=values.get("password"),
        extra=json.dumps(extra) if extra else None,
    )


def read(
    sim: Simulator, source: SourceSpec, entity: str, ds: str = DS, conn: Connection | None = None
) -> list[Delivered]:
    conn = conn or connection(sim, source)
    return list(deliveries(source, source.entities[entity], conn, ds))


def window(source: SourceSpec, ds: str = DS) -> list[date]:
    """ds and the registry's lookback days before it, oldest first."""
    last = date.fromisoformat(ds)
    return [last - timedelta(days=n) for n in range(source.lookback_days, -1, -1)]


def repeated(keys) -> dict:
    return {key: count for key, count in Counter(keys).items() if count > 1}


# -- what the World says each API serves ---------------------------------------------------


def google_costs(world: World, days: list[date]) -> dict[tuple[str, str], str]:
    """(campaign id, day) -> costMicros, as Google writes int64: a string."""
    return {
        (row.campaign_id, day.isoformat()): str(row.cost_micros)
        for day in days
        for row in world.campaign_performance(day)
    }


def meta_spend(world: World, days: list[date]) -> dict[tuple[str, str, str], Decimal]:
    """(account id, campaign id, day) -> spend in the account's currency."""
    return {
        (row.account_id, row.campaign_id, day.isoformat()): row.spend
        for day in days
        for row in world.meta_campaign_performance(day)
    }


def crm_modified_on(world: World, entity: str, day: date) -> dict[str, datetime]:
    """Id -> last-modified instant of the CRM records (of the days it holds) changed on `day`."""
    changed: dict[str, datetime] = {}
    for held in CRM_DAYS:
        if entity == "contacts":
            records = [(c.contact_id, c.updated_at) for c in crm.contacts_created_on(world, held)]
        else:
            records = [(d.deal_id, d.updated_at) for d in crm.deals_created_on(world, held)]
        changed.update({key: moment for key, moment in records if moment.date() == day})
    return changed


def google_key(record: dict) -> tuple[str, str]:
    return record["campaign"]["id"], record["segments"]["date"]


def meta_key(record: dict) -> tuple[str, str, str]:
    return record["account_id"], record["campaign_id"], record["date_start"]


# -- Google Ads ------------------------------------------------------------------------------


def test_google_ads_campaigns_snapshot_delivers_every_campaign_once(simulator):
    records = [d.record for d in read(simulator, GOOGLE, "campaigns")]

    assert repeated(r["campaign"]["id"] for r in records) == {}
    assert {r["campaign"]["id"]: r["campaign"]["name"] for r in records} == {
        c.campaign_id: c.name for c in WORLD.campaigns()
    }


def test_google_ads_ad_groups_snapshot_delivers_every_ad_group_once_with_its_campaign(simulator):
    records = [d.record for d in read(simulator, GOOGLE, "ad_groups")]

    assert repeated(r["adGroup"]["id"] for r in records) == {}
    assert {r["adGroup"]["id"]: (r["campaign"]["id"], r["adGroup"]["status"]) for r in records} == {
        g.ad_group_id: (g.campaign_id, g.status) for g in WORLD.ad_groups()
    }


def test_google_ads_campaign_performance_reads_ds_and_the_registrys_lookback(simulator):
    delivered = read(simulator, GOOGLE, "campaign_performance")
    records = [d.record for d in delivered]
    days = window(GOOGLE)

    assert GOOGLE.lookback_days == 2
    assert [d.isoformat() for d in days] == ["2026-03-03", "2026-03-04", "2026-03-05"]
    assert repeated(google_key(r) for r in records) == {}
    # 5 campaigns × 3 days, each with the World's cost, impressions and clicks.
    assert {google_key(r): r["metrics"]["costMicros"] for r in records} == google_costs(WORLD, days)
    assert len(records) == 15
    counts = {
        (row.campaign_id, day.isoformat()): (str(row.impressions), str(row.clicks))
        for day in days
        for row in WORLD.campaign_performance(day)
    }
    assert {
        google_key(r): (r["metrics"]["impressions"], r["metrics"]["clicks"]) for r in records
    } == counts
    url = simulator.running.google_ads_url
    search = f"POST {url}/v21/customers/{WORLD.google_ads_customer_id}/googleAds:search"
    assert [d.origin for d in delivered] == [f"{search} record {n}" for n in range(1, 16)]


def test_google_ads_follows_next_page_token_to_the_last_page(simulator):
    # 14 days × 5 campaigns = 70 rows: two pages of the simulator's 50.
    fortnight = dataclasses.replace(GOOGLE, lookback_days=13)
    mark = simulator.mark()
    records = [d.record for d in read(simulator, fortnight, "campaign_performance")]

    days = [DAY - timedelta(days=n) for n in range(13, -1, -1)]
    assert repeated(google_key(r) for r in records) == {}
    assert {google_key(r): r["metrics"]["costMicros"] for r in records} == google_costs(WORLD, days)
    requests = simulator.requests_since(mark)
    assert len(records) == 70 > GOOGLE_PAGE_SIZE
    assert [(r.method, r.status) for r in requests] == [("POST", 200)] * math.ceil(
        70 / GOOGLE_PAGE_SIZE
    )


# -- Meta ------------------------------------------------------------------------------------


def test_meta_insights_report_every_accounts_campaign_days_with_the_worlds_spend(simulator):
    delivered = read(simulator, META, "insights")
    records = [d.record for d in delivered]
    accounts = WORLD.meta_ad_accounts()

    assert len(accounts) == 2  # for_each asks each of them
    assert repeated(meta_key(r) for r in records) == {}
    assert {meta_key(r): Decimal(r["spend"]) for r in records} == meta_spend(WORLD, window(META))
    currency = {a.account_id: a.currency for a in accounts}
    assert {(r["account_id"], r["account_currency"]) for r in records} == set(currency.items())
    assert {"USD", "EUR"} == set(currency.values())
    # Each record names the request (the account's own path) it came from.
    meta_url = simulator.running.meta_ads_url
    for d in delivered:
        prefix = f"GET {meta_url}/v19.0/act_{d.record['account_id']}/insights record "
        assert d.origin.startswith(prefix), d.origin
    assert repeated(d.origin for d in delivered) == {}


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ("campaigns", lambda w: {c.campaign_id: c.account_id for c in w.meta_campaigns()}),
        ("adsets", lambda w: {a.adset_id: a.account_id for a in w.meta_adsets()}),
    ],
    ids=["campaigns", "adsets"],
)
def test_meta_snapshots_list_every_accounts_campaigns_and_adsets_once(simulator, entity, expected):
    records = [d.record for d in read(simulator, META, entity)]

    assert repeated(r["id"] for r in records) == {}
    assert {r["id"]: r["account_id"] for r in records} == expected(WORLD)
    assert {r["account_id"] for r in records} == {a.account_id for a in WORLD.meta_ad_accounts()}


def test_meta_insights_follow_paging_next_through_every_page_of_every_account(simulator):
    insights = META.entities["insights"]
    params = {**insights.endpoint["params"], "limit": 2}
    two_a_page = dataclasses.replace(insights, endpoint={**insights.endpoint, "params": params})
    source = dataclasses.replace(META, entities={"insights": two_a_page})
    mark = simulator.mark()
    records = [d.record for d in read(simulator, source, "insights")]

    expected = meta_spend(WORLD, window(META))
    assert repeated(meta_key(r) for r in records) == {}
    assert {meta_key(r): Decimal(r["spend"]) for r in records} == expected
    # Account 1 has 3 campaigns, account 2 has 2: 9 and 6 rows over 3 days, 2 to a page.
    rows_per_account = Counter(account for account, _, _ in expected)
    assert sorted(rows_per_account.values()) == [6, 9]
    requests = [r for r in simulator.requests_since(mark) if "/insights" in r.path]
    assert len(requests) == sum(math.ceil(n / 2) for n in rows_per_account.values()) == 8
    assert {r.status for r in requests} == {200}
    assert sum("after=" in r.path for r in requests) == 8 - 2  # every page but each first


# -- CRM -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "modified"), [("contacts", "lastmodifieddate"), ("deals", "hs_lastmodifieddate")]
)
def test_crm_delivers_the_records_modified_in_the_day_over_several_pages(
    simulator, entity, modified
):
    mark = simulator.mark()
    records = [d.record for d in read(simulator, CRM, entity)]

    expected = crm_modified_on(WORLD, entity, DAY)
    neighbours = {d: crm_modified_on(WORLD, entity, d) for d in CRM_DAYS if d != DAY}
    assert all(neighbours.values())  # the CRM holds records the window must leave out
    assert len(expected) > SEARCH_LIMIT  # so the read needs more than one page
    assert repeated(r["id"] for r in records) == {}
    assert {r["id"] for r in records} == set(expected)
    assert {r["id"]: datetime.fromisoformat(r["properties"][modified]) for r in records} == expected
    search = f"/crm/v3/objects/{entity}/search"
    requests = [r for r in simulator.requests_since(mark) if r.path == search]
    assert len(requests) == math.ceil(len(expected) / SEARCH_LIMIT) >= 2
    assert {r.status for r in requests} == {200}


# -- a 30% storm of 429/500/503 --------------------------------------------------------------


@pytest.fixture(scope="module")
def storm(tmp_path_factory) -> Iterator[Simulator]:
    yield from start(tmp_path_factory.mktemp("storm"), CRM_DAYS, SCALE, Faults(fault_rate=0.3))


# ds values per read: several runs, so each API answers enough requests for the storm to hit.
WEEK = [(DAY - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
STORM_READS = {
    "google_ads/campaign_performance": (
        GOOGLE,
        "campaign_performance",
        WEEK,
        google_key,
        lambda ds: set(google_costs(WORLD, window(GOOGLE, ds))),
    ),
    "meta_ads/insights": (
        META,
        "insights",
        WEEK[-4:],
        meta_key,
        lambda ds: set(meta_spend(WORLD, window(META, ds))),
    ),
    "crm/contacts": (
        CRM,
        "contacts",
        [d.isoformat() for d in CRM_DAYS],
        lambda r: r["id"],
        lambda ds: set(crm_modified_on(WORLD, "contacts", date.fromisoformat(ds))),
    ),
}


@pytest.mark.parametrize("read_name", list(STORM_READS))
def test_a_30_percent_storm_still_delivers_every_record_exactly_once(storm, read_name):
    source, entity, runs, key, expected = STORM_READS[read_name]
    mark = storm.mark()
    for ds in runs:
        records = [d.record for d in read(storm, source, entity, ds)]
        assert repeated(key(r) for r in records) == {}, ds
        assert {key(r) for r in records} == expected(ds), ds

    # The faults are seeded by request number, so the same requests fail on every run.
    statuses = Counter(r.status for r in storm.requests_since(mark))
    assert set(statuses) <= {200, 429, 500, 503}
    assert statuses[200] >= len(runs)
    assert statuses[429] + statuses[500] + statuses[503] > 0, statuses


# -- malformed records go to quarantine ------------------------------------------------------


@pytest.fixture(scope="module")
def malformed(tmp_path_factory) -> Iterator[Simulator]:
    faults = Faults(malformed_rate=MALFORMED_RATE)
    yield from start(tmp_path_factory.mktemp("malformed"), CRM_DAYS, 1, faults)


SMALL_WORLD = World(seed=SEED, scale=1)


def google_keys(world: World, days: list[date]) -> set[str]:
    """The performance rows of `days`, named as ground truth names them."""
    return {
        google_performance_key(row.campaign_id, day)
        for day in days
        for row in world.campaign_performance(day)
    }


def meta_keys(world: World, days: list[date]) -> set[str]:
    """The campaign-level insights rows of `days`, named as ground truth names them."""
    return {
        meta_insights_key("campaign", row.campaign_id, day)
        for day in days
        for row in world.meta_campaign_performance(day)
    }


def _meta_campaign_id(record: dict) -> str:
    if "campaign_id" in record:
        return record["campaign_id"]
    by_name = {c.name: c.campaign_id for c in SMALL_WORLD.meta_campaigns()}
    return by_name[record["campaign_name"]]


@dataclass(frozen=True)
class MalformedCase:
    source: SourceSpec
    entity: str
    days: list[date]  # the days whose records ground truth names
    keys: Callable[[], set[str]]  # every record the read delivers, as ground truth names them
    key: Callable[[dict], str]  # a delivered record's ground-truth name (even without its id)
    missing_id: str  # the reason for a record without its id
    wrong_type: str  # the reason for a record whose typed field holds "N/A"
    spoiled: tuple[str, ...]  # where "N/A" goes
    request: str  # method, and the path after the connection's host, before " record <n>"


MALFORMED_CASES = {
    "google_ads/campaign_performance": MalformedCase(
        GOOGLE,
        "campaign_performance",
        window(GOOGLE),
        lambda: google_keys(SMALL_WORLD, window(GOOGLE)),
        lambda r: google_performance_key(
            r["campaign"].get("id") or r["campaign"]["resourceName"].rsplit("/", 1)[1],
            date.fromisoformat(r["segments"]["date"]),
        ),
        "missing required field 'campaign.id'",
        "field 'metrics.costMicros' is 'N/A', not an integer",
        ("metrics", "costMicros"),
        f"POST /v21/customers/{SMALL_WORLD.google_ads_customer_id}/googleAds:search",
    ),
    "meta_ads/insights": MalformedCase(
        META,
        "insights",
        window(META),
        lambda: meta_keys(SMALL_WORLD, window(META)),
        lambda r: meta_insights_key(
            "campaign", _meta_campaign_id(r), date.fromisoformat(r["date_start"])
        ),
        "missing required field 'campaign_id'",
        "field 'spend' is 'N/A', not a decimal",
        ("spend",),
        "GET /act_{account_id}/insights",  # the host holds /v19.0
    ),
    "crm/contacts": MalformedCase(
        CRM,
        "contacts",
        CRM_DAYS,
        lambda: set(crm_modified_on(SMALL_WORLD, "contacts", DAY)),
        lambda r: r.get("id") or r["properties"]["hs_object_id"],
        "missing required field 'id'",
        "field 'updatedAt' is 'N/A', not a timestamp",
        ("updatedAt",),
        "POST /crm/v3/objects/contacts/search",
    ),
    "crm/deals": MalformedCase(
        CRM,
        "deals",
        CRM_DAYS,
        lambda: set(crm_modified_on(SMALL_WORLD, "deals", DAY)),
        lambda r: r.get("id") or r["properties"]["hs_object_id"],
        "missing required field 'id'",
        "field 'properties.amount' is 'N/A', not a decimal",
        ("properties", "amount"),
        "POST /crm/v3/objects/deals/search",
    ),
}


def read_jsonl_gz(path: str) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(Path(path).read_bytes()).splitlines()]


def dig(record: dict, path: tuple[str, ...]):
    for step in path:
        record = record[step]
    return record


@pytest.mark.parametrize("name", list(MALFORMED_CASES))
def test_malformed_records_go_to_quarantine_with_the_field_named(malformed, tmp_path, name):
    case = MALFORMED_CASES[name]
    every = case.keys()
    truth = SMALL_WORLD.malformed_records(case.days, MALFORMED_RATE)[name]
    expected = {key: kind for key, kind in truth.items() if key in every}
    assert set(expected.values()) == {MISSING_ID, WRONG_TYPE}  # both reasons get checked

    lake = Lake(f"file://{tmp_path / 'lake'}")
    source_name = case.source.name
    entity = case.source.entities[case.entity]
    delivery = read(malformed, case.source, case.entity)
    staged = stage(lake, source_name, entity, DS, delivery)

    assert staged.delivered == staged.rows + staged.quarantined == len(every) == len(delivery)
    assert staged.quarantined == len(expected)
    ((raw_file, raw_rows),) = staged.files
    ((quarantine_file, quarantined_rows),) = staged.quarantine_files
    raw = read_jsonl_gz(raw_file)
    quarantined = read_jsonl_gz(quarantine_file)
    assert (raw_rows, quarantined_rows) == (len(raw), len(quarantined))
    assert quarantine_file.startswith(
        lake.staging_path(Partition("quarantine", source_name, case.entity, DS))
    )
    assert sorted(case.key(r) for r in raw) == sorted(every - set(expected))

    reasons = {case.key(q["record"]): q["reason"] for q in quarantined}
    assert reasons == {
        key: case.missing_id if kind == MISSING_ID else case.wrong_type
        for key, kind in expected.items()
    }
    # Counted by field and type: "field 'x' is 'N/A', not a T" as "field 'x' is not a T".
    grouped = {
        case.missing_id: case.missing_id,
        case.wrong_type: case.wrong_type.replace(" is 'N/A',", " is"),
    }
    assert staged.reasons == dict(Counter(grouped[reason] for reason in reasons.values()))
    base = connection(malformed, case.source).host
    for q in quarantined:
        assert (q["source"], q["entity"], q["ds"]) == (source_name, case.entity, DS)
        if q["reason"] == case.wrong_type:
            assert dig(q["record"], case.spoiled) == "N/A"
        else:
            assert dig(q["record"], case.spoiled) != "N/A"
        method, path = case.request.split(" ")
        path = path.format(account_id=q["record"].get("account_id"))
        assert re.fullmatch(rf"{method} {re.escape(base + path)} record \d+", q["origin"]), q

    manifest = publish(lake, staged, run_id="test-malformed")
    assert (manifest.delivered, manifest.rows, manifest.quarantined) == (
        len(every),
        len(every) - len(expected),
        len(expected),
    )
    published = lake.read_manifest(Partition("quarantine", source_name, case.entity, DS))
    assert published is not None and published.rows == len(expected)


# -- errors ----------------------------------------------------------------------------------


def test_an_unknown_google_ads_customer_is_a_source_error_with_the_403_not_retried(simulator):
    mark = simulator.mark()
    conn = connection(simulator, GOOGLE, extra={"customer_id": "1234567890"})
    with pytest.raises(SourceError) as raised:
        read(simulator, GOOGLE, "campaign_performance", conn=conn)

    message = str(raised.value)
    assert message.startswith("google_ads/campaign_performance: POST ")
    assert "/v21/customers/1234567890/googleAds:search" in message
    assert message.endswith(
        "HTTP 403: The caller does not have permission to access customer 1234567890"
    )
    assert conn.password and conn.password not in message
    assert [r.status for r in simulator.requests_since(mark)] == [403]


def test_a_missing_developer_token_is_a_401_naming_the_header_without_the_token(simulator):
    conn = connection(simulator, GOOGLE, extra={"developer_token": ""})
    with pytest.raises(SourceError) as raised:
        read(simulator, GOOGLE, "campaigns", conn=conn)

    message = str(raised.value)
    assert message.startswith("google_ads/campaigns: POST ")
    assert message.endswith("HTTP 401: Missing developer-token header")
    assert conn.password not in message


def test_an_unknown_meta_account_is_a_source_error_naming_the_account(simulator):
    conn = connection(simulator, META, extra={"account_ids": ["100000000000001"]})
    with pytest.raises(SourceError) as raised:
        read(simulator, META, "insights", conn=conn)

    message = str(raised.value)
    assert message.startswith("meta_ads/insights: GET ")
    assert "/v19.0/act_100000000000001/insights failed: HTTP 400: " in message
    assert "Object with ID 'act_100000000000001' does not exist" in message
    assert conn.password not in message


@pytest.fixture(scope="module")
def guarded() -> Iterator[dict[str, str]]:
    """The Meta and CRM APIs, in this process, accepting only TOKEN."""
    world = World(seed=SEED)
    servers = {
        "meta_ads": meta_ads_api.make_server(world, access_token=TOKEN),
        "crm": crm_api.make_server(world, [DAY], access_token=TOKEN),
    }
    threads = [
        threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True)
        for s in servers.values()
    ]
    for thread in threads:
        thread.start()
    yield {
        "meta_ads": f"{servers['meta_ads'].url}/{meta_ads_api.API_VERSION}",
        "crm": servers["crm"].url,
    }
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("source", "entity", "extra", "api_message"),
    [
        (
            CRM,
            "contacts",
            {},
            "The access token provided is invalid or expired.",
        ),
        (
            META,
            "insights",
            {"account_ids": [a.account_id for a in World(seed=SEED).meta_ad_accounts()]},
            "Invalid OAuth access token - Cannot parse access token",
        ),
    ],
    ids=["crm", "meta_ads"],
)
def test_a_wrong_token_is_a_source_error_with_the_401_asked_once_and_never_echoed(
    guarded, caplog, source, entity, extra, api_message
):
    wrong = "wrong-secret-token-0123456789"
    conn = Connection(
        conn_id=source.conn_id,
        conn_type="http",
        host=guarded[source.name],
        password=wrong,
        extra=json.dumps(extra) if extra else None,
    )
    caplog.set_level(logging.INFO, logger="caravan.simulator")
    with pytest.raises(SourceError) as raised:
        list(deliveries(source, source.entities[entity], conn, DS))

    message = str(raised.value)
    assert message.startswith(f"{source.name}/{entity}: ")
    assert message.endswith(f"HTTP 401: {api_message}")
    assert wrong not in message and TOKEN not in message
    answered = [r.getMessage() for r in caplog.records if r.name.startswith("caravan.simulator")]
    assert len(answered) == 1 and '" 401 ' in answered[0]  # a refusal is not retried


def test_the_right_token_reads_the_guarded_crm(guarded):
    conn = Connection(conn_id="crm_default", conn_type="http", host=guarded["crm"], password=TOKEN)
    records = [d.record for d in deliveries(CRM, CRM.entities["contacts"], conn, DS)]
    assert {r["id"] for r in records} == {
        c.contact_id for c in crm.contacts_created_on(World(seed=SEED), DAY)
    }


def test_a_connection_without_a_password_fails_before_any_request(simulator):
    mark = simulator.mark()
    conn = connection(simulator, CRM, password=None)
    with pytest.raises(ValueError, match=r"^crm/contacts: auth 'bearer' needs the connection's"):
        read(simulator, CRM, "contacts", conn=conn)
    assert simulator.requests_since(mark) == []


def test_for_each_without_its_list_in_the_extra_names_the_connection(simulator):
    conn = connection(simulator, META, extra={"account_ids": []})
    with pytest.raises(ValueError, match="meta_ads: connection 'meta_ads_default' needs extra"):
        read(simulator, META, "insights", conn=conn)


def test_rest_connection_from_an_airflow_connection():
    conn = Connection(
        conn_id="api",
        conn_type="http",
        host="api.example.com",
        schema="http",
        port=8080,
        login="me",
        password=TOKEN,
        extra=json.dumps({"customer_id": "123"}),
    )
    rest = RestConnection.from_connection(conn)
    assert rest == RestConnection(
        "http://api.example.com:8080", TOKEN, "me", {"customer_id": "123"}
    )
    assert RestConnection.from_connection(
        Connection(conn_id="api", conn_type="http", host="https://api.example.com/v1/")
    ) == RestConnection("https://api.example.com/v1")
    assert TOKEN not in repr(rest) and TOKEN not in str(rest)


def test_rest_connection_without_a_host_names_the_connection():
    with pytest.raises(ValueError, match="connection 'api': host"):
        RestConnection.from_connection(Connection(conn_id="api", conn_type="http", password="x"))


# -- placeholders ----------------------------------------------------------------------------

PLACEHOLDER_REGISTRY = """
ads:
  kind: rest_api
  conn_id: google_ads_default
  client:
    auth: bearer
    headers: {{developer-token: "{header}"}}
  entities:
    report:
      endpoint:
        path: "{path}"
        method: POST
        json:
          query: "{query}"
        data_selector: results
      primary_key: campaign.id
"""
GOOD = {
    "header": "${developer_token}",
    "path": "v21/customers/${customer_id}/googleAds:search",
    "query": "SELECT campaign.id FROM campaign WHERE segments.date = '${ds}'",
}


@pytest.mark.parametrize(
    ("field", "value", "where", "placeholder"),
    [
        ("path", "v21/customers/${customer}/googleAds:search", "endpoint", "customer"),
        ("query", GOOD["query"].replace("${ds}", "${day}"), "endpoint", "day"),
        ("header", "${dev_token}", "client.headers", "dev_token"),
    ],
    ids=["path", "json", "header"],
)
def test_an_unknown_placeholder_names_the_source_entity_and_placeholder(
    simulator, tmp_path, field, value, where, placeholder
):
    registry = tmp_path / "sources.yaml"
    registry.write_text(PLACEHOLDER_REGISTRY.format(**{**GOOD, field: value}))
    source = load_registry(registry)["ads"]
    mark = simulator.mark()

    with pytest.raises(ValueError) as raised:
        read(simulator, source, "report", conn=connection(simulator, GOOGLE))

    message = str(raised.value)
    assert message.startswith(f"ads/report: {where}: unknown placeholder ${{{placeholder}}} in ")
    assert value in message
    assert simulator.requests_since(mark) == []  # refused before asking anything


def test_the_placeholder_registry_works_when_every_name_is_known(simulator, tmp_path):
    registry = tmp_path / "sources.yaml"
    registry.write_text(PLACEHOLDER_REGISTRY.format(**GOOD))
    source = load_registry(registry)["ads"]

    records = [
        d.record for d in read(simulator, source, "report", conn=connection(simulator, GOOGLE))
    ]
    assert sorted(r["campaign"]["id"] for r in records) == sorted(
        c.campaign_id for c in WORLD.campaigns()
    )
