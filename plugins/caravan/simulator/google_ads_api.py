"""A Google Ads-shaped search API over real HTTP, serving the World's ad account.

Just enough of `POST /v21/customers/{id}/googleAds:search` for an ingest client
to be written the way it would be against Google: bearer token and developer
token headers, GAQL in the body (`FROM campaign`, with or without a date filter,
and `FROM ad_group`), small pages with opaque page tokens, int64 metrics as
strings and Google's JSON error shape.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from http import HTTPStatus
from typing import Any

from caravan.simulator.faults import (
    DUPLICATE_KEY,
    NEGATIVE_COST,
    NO_FAULTS,
    Faults,
    Plant,
    google_performance_key,
    malform,
    malformation,
    planted_keys,
)
from caravan.simulator.http_base import HttpError, JsonHandler, SimulatorServer
from caravan.simulator.world import World

API_VERSION = "v21"
_SEARCH_PATH = re.compile(rf"^/{API_VERSION}/customers/(?P<customer_id>[^/]+)/googleAds:search$")
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<resource>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+[\w.,\s]+?(?:\s+(?:ASC|DESC))?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_DATE = r"'(\d{4}-\d{2}-\d{2})'"
_DATE_BETWEEN = re.compile(rf"^segments\.date\s+BETWEEN\s+{_DATE}\s+AND\s+{_DATE}$", re.IGNORECASE)
_DATE_EQUALS = re.compile(rf"^segments\.date\s*=\s*{_DATE}$", re.IGNORECASE)

PERFORMANCE_FIELD_MASK = ",".join(
    (
        "campaign.resourceName",
        "campaign.id",
        "campaign.name",
        "metrics.costMicros",
        "metrics.impressions",
        "metrics.clicks",
        "metrics.conversions",
        "segments.date",
    )
)
CAMPAIGN_FIELD_MASK = ",".join(
    (
        "campaign.resourceName",
        "campaign.id",
        "campaign.name",
        "campaign.status",
        "campaign.advertisingChannelType",
    )
)
AD_GROUP_FIELD_MASK = ",".join(
    (
        "adGroup.resourceName",
        "adGroup.id",
        "adGroup.name",
        "adGroup.status",
        "adGroup.campaign",
        "campaign.resourceName",
        "campaign.id",
        "campaign.name",
    )
)
RESOURCES = ("campaign", "ad_group")
PERFORMANCE_ENTITY = "google_ads/campaign_performance"
# A planted negative cost when the true cost is 0: minus one cent.
_NEGATIVE_FLOOR_MICROS = 10_000


class ApiError(HttpError):
    """An error to answer in Google's shape: {"error": {"code", "message", "status"}}."""

    def __init__(self, code: HTTPStatus, message: str, status: str) -> None:
        super().__init__(code, {"error": {"code": int(code), "message": message, "status": status}})
        self.message = message
        self.status = status


def _invalid(message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, message, "INVALID_ARGUMENT")


@dataclass(frozen=True)
class Query:
    """The parts of a GAQL query the simulator understands."""

    resource: str
    first_day: date | None = None
    last_day: date | None = None


def parse_query(gaql: str) -> Query:
    """Parse `SELECT … FROM campaign|ad_group [WHERE segments.date …] [ORDER BY …]` or raise 400.

    Only campaigns have metrics here, so a date filter on ad groups is refused rather than
    silently ignored.
    """
    match = _QUERY.match(gaql or "")
    if match is None:
        raise _invalid(f"Cannot parse GAQL query: {gaql!r}")
    resource = match["resource"].lower()
    if resource not in RESOURCES:
        raise _invalid(f"Unsupported resource in FROM clause: {match['resource']!r}")
    where = (match["where"] or "").strip()
    if not where:
        return Query(resource)
    if resource != "campaign":
        raise _invalid(f"Unsupported WHERE clause on {resource}: {where!r} (no filters)")
    if between := _DATE_BETWEEN.match(where):
        first, last = _parse_date(between[1]), _parse_date(between[2])
    elif equals := _DATE_EQUALS.match(where):
        first = last = _parse_date(equals[1])
    else:
        raise _invalid(f"Unsupported WHERE clause: {where!r} (only segments.date filters)")
    if first > last:
        raise _invalid(f"Date range starts after it ends: {first} > {last}")
    return Query(resource, first, last)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _invalid(f"Invalid date {text!r} in WHERE clause") from None


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def planted_records(world: World, days: list[date], plant: Plant | None) -> dict[str, str]:
    """Ground truth: the campaign_performance rows served with the plant, key -> class."""
    if plant is None:
        return {}
    found: dict[str, str] = {}
    for day in days:
        keys = [google_performance_key(p.campaign_id, day) for p in world.campaign_performance(day)]
        for key in planted_keys(world.seed, plant, PERFORMANCE_ENTITY, day, keys):
            found[key] = plant.kind
    return found


def performance_rows(
    world: World,
    first: date,
    last: date,
    malformed_rate: float = 0.0,
    plant: Plant | None = None,
) -> list[dict[str, Any]]:
    """Campaign metrics per day, ordered by date then campaign id, shaped like Google's."""
    cid = world.google_ads_customer_id
    names = {campaign.campaign_id: campaign.name for campaign in world.campaigns()}
    planted = planted_records(world, _days(first, last), plant)
    rows = []
    for day in _days(first, last):
        for perf in sorted(world.campaign_performance(day), key=lambda p: int(p.campaign_id)):
            key = google_performance_key(perf.campaign_id, day)
            kind = malformation(world.seed, malformed_rate, PERFORMANCE_ENTITY, key)
            cost_micros = perf.cost_micros
            if planted.get(key) == NEGATIVE_COST:
                cost_micros = -max(cost_micros, _NEGATIVE_FLOOR_MICROS)
            row = {
                "campaign": {
                    "resourceName": f"customers/{cid}/campaigns/{perf.campaign_id}",
                    "id": perf.campaign_id,
                    "name": names[perf.campaign_id],
                },
                "metrics": {
                    "costMicros": str(cost_micros),
                    "impressions": str(perf.impressions),
                    "clicks": str(perf.clicks),
                    "conversions": perf.conversions,
                },
                "segments": {"date": day.isoformat()},
            }
            if kind is not None:
                row = malform(row, kind, ("campaign", "id"), ("metrics", "costMicros"))
            rows.append(row)
            if planted.get(key) == DUPLICATE_KEY:
                rows.append(row)  # the same row again
    return rows


def campaign_rows(world: World) -> list[dict[str, Any]]:
    """The account's campaigns, ordered by id."""
    cid = world.google_ads_customer_id
    return [
        {
            "campaign": {
                "resourceName": f"customers/{cid}/campaigns/{campaign.campaign_id}",
                "id": campaign.campaign_id,
                "name": campaign.name,
                "status": campaign.status,
                "advertisingChannelType": campaign.channel_type,
            }
        }
        for campaign in sorted(world.campaigns(), key=lambda c: int(c.campaign_id))
    ]


def ad_group_rows(world: World) -> list[dict[str, Any]]:
    """The account's ad groups, ordered by id, each with its campaign as Google joins it."""
    cid = world.google_ads_customer_id
    names = {campaign.campaign_id: campaign.name for campaign in world.campaigns()}
    return [
        {
            "adGroup": {
                "resourceName": f"customers/{cid}/adGroups/{group.ad_group_id}",
                "id": group.ad_group_id,
                "name": group.name,
                "status": group.status,
                "campaign": f"customers/{cid}/campaigns/{group.campaign_id}",
            },
            "campaign": {
                "resourceName": f"customers/{cid}/campaigns/{group.campaign_id}",
                "id": group.campaign_id,
                "name": names[group.campaign_id],
            },
        }
        for group in sorted(world.ad_groups(), key=lambda g: int(g.ad_group_id))
    ]


def _query_fingerprint(gaql: str) -> str:
    return hashlib.sha256(" ".join(gaql.split()).encode()).hexdigest()[:16]


def encode_page_token(gaql: str, offset: int) -> str:
    """Opaque to clients; stateless here, and bound to the query it was issued for."""
    payload = json.dumps({"q": _query_fingerprint(gaql), "o": offset}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_page_token(token: str, gaql: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        offset = payload["o"]
        fingerprint = payload["q"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _invalid(f"Invalid page token: {token!r}") from None
    if fingerprint != _query_fingerprint(gaql) or not isinstance(offset, int) or offset < 0:
        raise _invalid("Page token does not belong to this query")
    return offset


def search(
    world: World,
    body: dict[str, Any],
    page_size: int,
    malformed_rate: float = 0.0,
    plant: Plant | None = None,
) -> dict[str, Any]:
    """Answer one search request: a page of rows, a next page token when there are more."""
    gaql = body.get("query")
    if not isinstance(gaql, str) or not gaql.strip():
        raise _invalid("Request body must contain a non-empty 'query'")
    rows, field_mask = _rows(world, parse_query(gaql), malformed_rate, plant)
    token = body.get("pageToken") or ""
    offset = decode_page_token(token, gaql) if token else 0
    response: dict[str, Any] = {"results": rows[offset : offset + page_size]}
    if offset + page_size < len(rows):
        response["nextPageToken"] = encode_page_token(gaql, offset + page_size)
    response["fieldMask"] = field_mask
    return response


def _rows(
    world: World, query: Query, malformed_rate: float, plant: Plant | None = None
) -> tuple[list[dict[str, Any]], str]:
    """Every row the query selects, with its field mask (paging slices them afterwards)."""
    if query.resource == "ad_group":
        return ad_group_rows(world), AD_GROUP_FIELD_MASK
    if query.first_day is not None and query.last_day is not None:
        rows = performance_rows(world, query.first_day, query.last_day, malformed_rate, plant)
        return rows, PERFORMANCE_FIELD_MASK
    return campaign_rows(world), CAMPAIGN_FIELD_MASK


class GoogleAdsServer(SimulatorServer):
    """An HTTP server that knows its World, page size and fault knobs."""

    source = "google_ads"

    def __init__(
        self,
        address: tuple[str, int],
        world: World,
        page_size: int,
        faults: Faults = NO_FAULTS,
    ) -> None:
        super().__init__(address, GoogleAdsHandler, world, page_size, faults)


_FAULT_STATUS = {
    HTTPStatus.TOO_MANY_REQUESTS: (
        "Resource has been exhausted (e.g. check quota).",
        "RESOURCE_EXHAUSTED",
    ),
    HTTPStatus.INTERNAL_SERVER_ERROR: ("Internal error encountered.", "INTERNAL"),
    HTTPStatus.SERVICE_UNAVAILABLE: ("The service is currently unavailable.", "UNAVAILABLE"),
}


class GoogleAdsHandler(JsonHandler):
    server: GoogleAdsServer
    log = logging.getLogger(__name__)

    def fault_body(self, status: int) -> dict[str, Any]:
        message, name = _FAULT_STATUS[HTTPStatus(status)]
        return ApiError(HTTPStatus(status), message, name).body()

    def do_POST(self) -> None:
        self.answer(self._handle_search)

    def do_GET(self) -> None:
        self.answer(self._refuse_get)

    def _refuse_get(self, body: bytes) -> dict[str, Any]:
        raise ApiError(HTTPStatus.NOT_FOUND, f"No such method: GET {self.path}", "NOT_FOUND")

    def _handle_search(self, body: bytes) -> dict[str, Any]:
        match = _SEARCH_PATH.match(self.path)
        if match is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"No such method: {self.path}", "NOT_FOUND")
        self._check_credentials()
        customer_id = match["customer_id"]
        if customer_id != self.server.world.google_ads_customer_id:
            raise ApiError(
                HTTPStatus.FORBIDDEN,
                f"The caller does not have permission to access customer {customer_id}",
                "PERMISSION_DENIED",
            )
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise _invalid("Request body is not valid JSON") from None
        if not isinstance(request, dict):
            raise _invalid("Request body must be a JSON object")
        world, faults = self.server.world, self.server.faults
        return search(world, request, self.server.page_size, faults.malformed_rate, faults.plant)

    def _check_credentials(self) -> None:
        authorization = self.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise ApiError(
                HTTPStatus.UNAUTHORIZED,
                "Request is missing required authentication credential (Authorization: Bearer)",
                "UNAUTHENTICATED",
            )
        if not self.headers.get("developer-token", "").strip():
            raise ApiError(
                HTTPStatus.UNAUTHORIZED, "Missing developer-token header", "UNAUTHENTICATED"
            )


def make_server(
    world: World,
    host: str = "127.0.0.1",
    port: int = 0,
    page_size: int = 50,
    faults: Faults = NO_FAULTS,
) -> GoogleAdsServer:
    """A ready-to-serve server (port 0 picks a free port; see `.url`)."""
    return GoogleAdsServer((host, port), world, page_size, faults)
