"""A Meta Marketing API (Graph) shaped server over real HTTP, serving the World's ad accounts.

Enough of `GET /v19.0/act_<id>/{insights,campaigns,adsets}` for an ingest client
to be written as against Graph: `access_token` in the query, `data[]` with
cursor paging (`paging.cursors.after`, and `paging.next` only when there is
more), numbers as decimal strings, an `actions` list, the account's own
currency, and Graph's error shape `{"error": {"message", "type", "code"}}`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from caravan.simulator.faults import NO_FAULTS, Faults, malform, malformation, meta_insights_key
from caravan.simulator.http_base import HttpError, JsonHandler, SimulatorServer
from caravan.simulator.world import (
    META_CREATED_AT,
    MetaAdAccount,
    MetaAdsetDay,
    MetaCampaignDay,
    World,
)

API_VERSION = "v19.0"
_PATH = re.compile(rf"^/{API_VERSION}/act_(?P<account_id>\d+)/(?P<edge>insights|campaigns|adsets)$")
MAX_LIMIT = 500
# Days one insights request may span, as Graph bounds a report's size.
MAX_RANGE_DAYS = 400
# Graph writes times with a +0000 offset.
META_CREATED_TIME = f"{META_CREATED_AT:%Y-%m-%dT%H:%M:%S}+0000"

INSIGHTS_FIELDS = {
    "campaign": (
        "account_id", "account_name", "account_currency", "campaign_id", "campaign_name",
        "spend", "impressions", "clicks", "actions",
    ),
    "adset": (
        "account_id", "account_name", "account_currency", "campaign_id", "campaign_name",
        "adset_id", "adset_name", "spend", "impressions", "clicks", "actions",
    ),
}  # fmt: skip
CAMPAIGN_FIELDS = (
    "id", "account_id", "name", "status", "effective_status", "objective", "daily_budget",
    "created_time",
)  # fmt: skip
ADSET_FIELDS = (
    "id", "account_id", "campaign_id", "name", "status", "effective_status", "daily_budget",
    "optimization_goal", "billing_event", "created_time",
)  # fmt: skip


def graph_error(
    message: str, code: int, status: int = HTTPStatus.BAD_REQUEST, kind: str = "OAuthException"
) -> HttpError:
    trace = hashlib.sha256(message.encode()).hexdigest()[:11]
    payload = {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": trace}}
    return HttpError(status, payload)


def _invalid_parameter(message: str) -> HttpError:
    return graph_error(f"(#100) {message}", 100)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _decimal_string(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _actions(purchases: int, clicks: int) -> list[dict[str, str]]:
    """Graph leaves out action types with no count, and the whole list when it is empty."""
    counts = (("link_click", clicks), ("purchase", purchases))
    return [{"action_type": kind, "value": str(value)} for kind, value in counts if value]


def parse_time_range(text: str | None) -> tuple[date, date]:
    """`{"since": "YYYY-MM-DD", "until": "YYYY-MM-DD"}` or 400 (no date preset: no `now`)."""
    if not text:
        raise _invalid_parameter("time_range is required (date presets are not simulated)")
    try:
        value = json.loads(text)
        first, last = date.fromisoformat(value["since"]), date.fromisoformat(value["until"])
    except (ValueError, KeyError, TypeError):
        raise _invalid_parameter(f"time_range must be {{'since','until'}} dates: {text}") from None
    if first > last:
        raise _invalid_parameter(f"time_range since {first} is after until {last}")
    if (last - first).days >= MAX_RANGE_DAYS:
        raise _invalid_parameter(f"time_range spans more than {MAX_RANGE_DAYS} days")
    return first, last


def parse_fields(text: str | None, allowed: tuple[str, ...], edge: str) -> tuple[str, ...]:
    """The requested fields in order; all of them when none are asked for."""
    if not text:
        return allowed
    fields = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in fields if name not in allowed]
    if unknown:
        raise _invalid_parameter(f"{', '.join(unknown)} is not valid for fields param of {edge}")
    return fields


def insights_rows(
    world: World, account: MetaAdAccount, level: str, first: date, last: date
) -> list[tuple[str, dict[str, Any]]]:
    """(record key, full row) per day and campaign or adset, ordered by date then id."""
    names = {c.campaign_id: c.name for c in world.meta_campaigns()}
    names.update({a.adset_id: a.name for a in world.meta_adsets()})
    rows = []
    for day in _days(first, last):
        records: list[MetaCampaignDay] | list[MetaAdsetDay] = (
            world.meta_campaign_performance(day)
            if level == "campaign"
            else world.meta_adset_performance(day)
        )
        for record in records:
            if record.account_id != account.account_id:
                continue
            row = {
                "account_id": account.account_id,
                "account_name": account.name,
                "account_currency": account.currency,
                "campaign_id": record.campaign_id,
                "campaign_name": names[record.campaign_id],
            }
            object_id = record.campaign_id
            if isinstance(record, MetaAdsetDay):
                object_id = record.adset_id
                row |= {"adset_id": record.adset_id, "adset_name": names[record.adset_id]}
            row |= {
                "spend": _decimal_string(record.spend),
                "impressions": str(record.impressions),
                "clicks": str(record.clicks),
                "actions": _actions(record.purchases, record.clicks),
                "date_start": day.isoformat(),
                "date_stop": day.isoformat(),
            }
            rows.append((meta_insights_key(level, object_id, day), row))
    return rows


def select_fields(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Graph answers the asked-for fields (and always the date pair); `actions` only if any."""
    selected = {name: row[name] for name in fields if name in row and row[name] != []}
    for name in ("date_start", "date_stop"):
        if name in row:
            selected[name] = row[name]
    return selected


def campaign_rows(world: World, account: MetaAdAccount) -> list[dict[str, Any]]:
    return [
        {
            "id": c.campaign_id,
            "account_id": c.account_id,
            "name": c.name,
            "status": c.status,
            "effective_status": c.status,
            "objective": c.objective,
            "daily_budget": str(int(c.daily_budget * 100)),  # minor units, as Graph does
            "created_time": META_CREATED_TIME,
        }
        for c in world.meta_campaigns()
        if c.account_id == account.account_id
    ]


def adset_rows(world: World, account: MetaAdAccount) -> list[dict[str, Any]]:
    return [
        {
            "id": a.adset_id,
            "account_id": a.account_id,
            "campaign_id": a.campaign_id,
            "name": a.name,
            "status": a.status,
            "effective_status": a.status,
            "daily_budget": str(int(a.daily_budget * 100)),
            "optimization_goal": "OFFSITE_CONVERSIONS",
            "billing_event": "IMPRESSIONS",
            "created_time": META_CREATED_TIME,
        }
        for a in world.meta_adsets()
        if a.account_id == account.account_id
    ]


def _fingerprint(path: str, params: dict[str, str]) -> str:
    """What a cursor is bound to: the path and the parameters that choose the rows."""
    chosen = {k: params.get(k, "") for k in ("level", "time_range", "time_increment")}
    text = json.dumps([path, chosen], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def encode_cursor(fingerprint: str, index: int) -> str:
    payload = json.dumps({"q": fingerprint, "i": index}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        index, bound_to = payload["i"], payload["q"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _invalid_parameter(f"Invalid cursor: {cursor!r}") from None
    if bound_to != fingerprint or not isinstance(index, int) or index < 0:
        raise _invalid_parameter("The cursor does not belong to this request")
    return index


def page(
    rows: list[dict[str, Any]],
    params: dict[str, str],
    path: str,
    base_url: str,
    default_limit: int,
) -> dict[str, Any]:
    """One page of `data` with Graph's cursors; `next` is a full URL when more rows follow."""
    limit_text = params.get("limit") or str(default_limit)
    if not limit_text.isdigit() or int(limit_text) < 1:
        raise _invalid_parameter(f"limit must be a positive integer, got {limit_text!r}")
    limit = min(int(limit_text), MAX_LIMIT)
    fingerprint = _fingerprint(path, params)
    start = decode_cursor(params["after"], fingerprint) + 1 if params.get("after") else 0
    data = rows[start : start + limit]
    if not data:
        return {"data": []}
    last = start + len(data) - 1
    after = encode_cursor(fingerprint, last)
    paging: dict[str, Any] = {
        "cursors": {"before": encode_cursor(fingerprint, start), "after": after}
    }
    if last + 1 < len(rows):
        query = {k: v for k, v in params.items() if k not in ("after", "before")}
        paging["next"] = f"{base_url}{path}?{urlencode({**query, 'after': after})}"
    return {"data": data, "paging": paging}


class MetaAdsServer(SimulatorServer):
    source = "meta_ads"

    def __init__(
        self,
        address: tuple[str, int],
        world: World,
        page_size: int = 25,
        faults: Faults = NO_FAULTS,
        access_token: str | None = None,
    ) -> None:
        self.access_token = access_token
        super().__init__(address, MetaAdsHandler, world, page_size, faults)


class MetaAdsHandler(JsonHandler):
    server: MetaAdsServer
    log = logging.getLogger(__name__)

    def fault_body(self, status: int) -> dict[str, Any]:
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            message = "(#80004) There have been too many calls to this ad-account. Wait a bit."
            return graph_error(message, 80004).body()
        return graph_error("An unexpected error has occurred. Please retry.", 2).body()

    def do_GET(self) -> None:
        self.answer(lambda body: self._route())

    def do_POST(self) -> None:
        self.answer(lambda body: self._refuse())

    def _refuse(self) -> dict[str, Any]:
        raise graph_error(f"Unsupported post request: {urlsplit(self.path).path}", 100)

    def _route(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        match = _PATH.match(url.path)
        if match is None:
            raise graph_error(f"Unknown path components: {url.path}", 2500)
        self._check_token(params)
        account = self._account(match["account_id"])
        edge = match["edge"]
        base_url = f"http://{self.headers.get('Host') or self.server.url.removeprefix('http://')}"
        rows = self._rows(edge, account, params)
        return page(rows, params, url.path, base_url, self.server.page_size)

    def _rows(
        self, edge: str, account: MetaAdAccount, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        world = self.server.world
        if edge == "campaigns":
            fields = parse_fields(params.get("fields"), CAMPAIGN_FIELDS, edge)
            return [_only(row, fields) for row in campaign_rows(world, account)]
        if edge == "adsets":
            fields = parse_fields(params.get("fields"), ADSET_FIELDS, edge)
            return [_only(row, fields) for row in adset_rows(world, account)]
        level = params.get("level") or ""
        if level not in INSIGHTS_FIELDS:
            raise _invalid_parameter(f"level must be campaign or adset, got {level!r}")
        if params.get("time_increment", "1") != "1":
            raise _invalid_parameter("only time_increment=1 (daily rows) is simulated")
        first, last = parse_time_range(params.get("time_range"))
        fields = parse_fields(params.get("fields"), INSIGHTS_FIELDS[level], "insights")
        malformed = self._malformer(level)
        return [
            malformed(key, select_fields(row, fields))
            for key, row in insights_rows(world, account, level, first, last)
        ]

    def _malformer(self, level: str) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
        seed, rate = self.server.world.seed, self.server.faults.malformed_rate

        def maybe_malform(key: str, row: dict[str, Any]) -> dict[str, Any]:
            kind = malformation(seed, rate, "meta_ads/insights", key)
            if kind is None:
                return row
            return malform(row, kind, (f"{level}_id",), ("spend",))

        return maybe_malform

    def _check_token(self, params: dict[str, str]) -> None:
        scheme, _, bearer = self.headers.get("Authorization", "").partition(" ")
        token = params.get("access_token") or (bearer.strip() if scheme == "Bearer" else "")
        if not token:
            raise graph_error("An access token is required to request this resource.", 190)
        expected = self.server.access_token
        if expected is not None and token != expected:
            raise graph_error(
                "Invalid OAuth access token - Cannot parse access token",
                190,
                status=HTTPStatus.UNAUTHORIZED,
            )

    def _account(self, account_id: str) -> MetaAdAccount:
        for account in self.server.world.meta_ad_accounts():
            if account.account_id == account_id:
                return account
        raise graph_error(
            f"Unsupported get request. Object with ID 'act_{account_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation.",
            100,
            kind="GraphMethodException",
        )


def _only(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """Graph always returns `id`, plus the asked-for fields."""
    return {"id": row["id"], **{name: row[name] for name in fields}}


def make_server(
    world: World,
    host: str = "127.0.0.1",
    port: int = 0,
    page_size: int = 25,
    faults: Faults = NO_FAULTS,
    access_token: str | None = None,
) -> MetaAdsServer:
    """A ready-to-serve server (port 0 picks a free port; see `.url`)."""
    return MetaAdsServer((host, port), world, page_size, faults, access_token)
