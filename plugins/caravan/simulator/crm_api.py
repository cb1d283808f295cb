"""A HubSpot-shaped CRM API over real HTTP: contacts and deals of the days it holds.

`GET /crm/v3/objects/{contacts,deals}` lists with `limit`, `after` and
`properties`; `POST /crm/v3/objects/{type}/search` takes HubSpot's
`filterGroups` (e.g. `lastmodifieddate` BETWEEN two instants) for incremental
loads. Records are `{"id", "properties", "createdAt", "updatedAt", "archived"}`
with every property a string, paged by `paging.next.after`. Deals always carry
their contact in `associations` (HubSpot's search would need a second call).
A bearer token is required; errors use HubSpot's `{"status": "error", …}` shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from caravan.simulator.crm import CrmContact, CrmDeal, contacts_created_on, deals_created_on
from caravan.simulator.faults import NO_FAULTS, Faults, malform, malformation
from caravan.simulator.http_base import HttpError, JsonHandler, SimulatorServer
from caravan.simulator.world import World

_LIST_PATH = re.compile(r"^/crm/v3/objects/(?P<object_type>contacts|deals)$")
_SEARCH_PATH = re.compile(r"^/crm/v3/objects/(?P<object_type>contacts|deals)/search$")
MAX_LIST_LIMIT = 100
MAX_SEARCH_LIMIT = 200
# HubSpot's search stops at 10,000 results: a client has to narrow its window.
MAX_SEARCH_RESULTS = 10_000


@dataclass(frozen=True)
class ObjectType:
    """What differs between contacts and deals: properties, defaults, modified-date name."""

    name: str
    properties: tuple[str, ...]
    defaults: tuple[str, ...]
    always: tuple[str, ...]
    modified: str
    dates: tuple[str, ...]
    typed_path: tuple[str, ...]  # the field a wrong-typed malformed record spoils


CONTACTS = ObjectType(
    name="contacts",
    properties=(
        "email", "firstname", "lastname", "lifecyclestage", "createdate", "lastmodifieddate",
        "hs_lastmodifieddate", "hs_object_id",
    ),
    defaults=("email", "firstname", "lastname"),
    always=("createdate", "lastmodifieddate", "hs_object_id"),
    modified="lastmodifieddate",
    dates=("createdate", "lastmodifieddate", "hs_lastmodifieddate"),
    typed_path=("updatedAt",),
)  # fmt: skip
DEALS = ObjectType(
    name="deals",
    properties=(
        "dealname", "amount", "dealstage", "closedate", "pipeline", "createdate",
        "hs_lastmodifieddate", "hs_object_id", "shop_order_id",
    ),
    defaults=("dealname", "amount", "dealstage", "closedate", "pipeline"),
    always=("createdate", "hs_lastmodifieddate", "hs_object_id"),
    modified="hs_lastmodifieddate",
    dates=("createdate", "hs_lastmodifieddate", "closedate"),
    typed_path=("properties", "amount"),
)  # fmt: skip
OBJECT_TYPES = {t.name: t for t in (CONTACTS, DEALS)}
OPERATORS = ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN")


def hubspot_error(status: int, message: str, category: str) -> HttpError:
    correlation = hashlib.sha256(message.encode()).hexdigest()[:32]
    payload = {
        "status": "error",
        "message": message,
        "correlationId": f"{correlation[:8]}-{correlation[8:12]}-{correlation[12:16]}"
        f"-{correlation[16:20]}-{correlation[20:]}",
        "category": category,
    }
    return HttpError(status, payload)


def _invalid(message: str) -> HttpError:
    return hubspot_error(HTTPStatus.BAD_REQUEST, message, "VALIDATION_ERROR")


def iso_millis(moment: datetime) -> str:
    """HubSpot's timestamps: UTC, milliseconds, `Z`."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def contact_record(contact: CrmContact) -> dict[str, Any]:
    """A contact with all its properties (strings, as HubSpot returns them)."""
    return {
        "id": contact.contact_id,
        "properties": {
            "email": contact.email,
            "firstname": contact.first_name,
            "lastname": contact.last_name,
            "lifecyclestage": contact.lifecycle_stage,
            "createdate": iso_millis(contact.created_at),
            "lastmodifieddate": iso_millis(contact.updated_at),
            "hs_lastmodifieddate": iso_millis(contact.updated_at),
            "hs_object_id": contact.contact_id,
        },
        "createdAt": iso_millis(contact.created_at),
        "updatedAt": iso_millis(contact.updated_at),
        "archived": False,
    }


def deal_record(deal: CrmDeal) -> dict[str, Any]:
    return {
        "id": deal.deal_id,
        "properties": {
            "dealname": deal.name,
            "amount": f"{deal.amount:.2f}",
            "dealstage": deal.stage,
            "closedate": iso_millis(deal.close_date),
            "pipeline": "default",
            "createdate": iso_millis(deal.created_at),
            "hs_lastmodifieddate": iso_millis(deal.updated_at),
            "hs_object_id": deal.deal_id,
            "shop_order_id": None if deal.order_id is None else str(deal.order_id),
        },
        "createdAt": iso_millis(deal.created_at),
        "updatedAt": iso_millis(deal.updated_at),
        "archived": False,
        "associations": {
            "contacts": {"results": [{"id": deal.contact_id, "type": "deal_to_contact"}]}
        },
    }


def all_records(world: World, days: Iterable[date], object_type: ObjectType) -> list[dict]:
    """Every record of the type created on `days`, ordered by id."""
    if object_type is CONTACTS:
        records = [contact_record(c) for day in days for c in contacts_created_on(world, day)]
    else:
        records = [deal_record(d) for day in days for d in deals_created_on(world, day)]
    return sorted(records, key=lambda record: int(record["id"]))


def select_properties(
    record: dict[str, Any], object_type: ObjectType, asked: Sequence[str] | None
) -> dict[str, Any]:
    """The asked-for properties (unknown names ignored, as HubSpot does) plus the always-on."""
    names = list(asked) if asked else list(object_type.defaults)
    wanted = [*names, *(n for n in object_type.always if n not in names)]
    properties = record["properties"]
    return {**record, "properties": {n: properties[n] for n in wanted if n in properties}}


def parse_instant(value: Any) -> datetime:
    """A filter value: epoch milliseconds (number or digits) or an ISO-8601 instant."""
    text = str(value).strip()
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise _invalid(f"Cannot parse {value!r} as a timestamp (epoch ms or ISO-8601)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _comparable(value: Any, is_date: bool) -> Any:
    return parse_instant(value) if is_date else str(value)


def filter_matches(record: dict[str, Any], spec: dict[str, Any], object_type: ObjectType) -> bool:
    name, operator = spec.get("propertyName"), spec.get("operator")
    if name not in object_type.properties:
        raise _invalid(f"Unknown property for {object_type.name} filter: {name!r}")
    if operator not in OPERATORS:
        raise _invalid(f"Unsupported operator {operator!r}; use one of {', '.join(OPERATORS)}")
    if "value" not in spec or (operator == "BETWEEN" and "highValue" not in spec):
        raise _invalid(
            f"Filter on {name} needs a value{' and highValue' * (operator == 'BETWEEN')}"
        )
    is_date = name in object_type.dates
    raw = record["properties"].get(name)
    if raw is None:
        return operator == "NEQ"
    actual = _comparable(raw, is_date)
    value = _comparable(spec["value"], is_date)
    if operator == "BETWEEN":
        return value <= actual <= _comparable(spec["highValue"], is_date)
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "EQ": lambda a, b: a == b,
        "NEQ": lambda a, b: a != b,
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
    }
    return comparisons[operator](actual, value)


def search_matches(record: dict[str, Any], groups: list[Any], object_type: ObjectType) -> bool:
    """Filters within a group are ANDed, groups are ORed; no groups matches everything."""
    if not groups:
        return True
    return any(
        all(filter_matches(record, spec, object_type) for spec in group.get("filters", []))
        for group in groups
    )


def _offset(after: Any) -> int:
    text = str(after or "0")
    if not text.isdigit():
        raise _invalid(f"Invalid 'after' cursor: {after!r}")
    return int(text)


def _limit(value: Any, maximum: int, default: int, capped: bool) -> int:
    text = str(default if value in (None, "") else value)
    if not text.isdigit() or int(text) < 1:
        raise _invalid(f"limit must be a positive integer, got {value!r}")
    if int(text) > maximum and not capped:
        raise _invalid(f"limit must be at most {maximum}, got {text}")
    return min(int(text), maximum)


class CrmServer(SimulatorServer):
    """The CRM holds the contacts and deals created on `days` (nothing before, nothing after)."""

    source = "crm"

    def __init__(
        self,
        address: tuple[str, int],
        world: World,
        days: Sequence[date],
        page_size: int = 10,
        faults: Faults = NO_FAULTS,
        access_token: str | None = None,
    ) -> None:
        self.days = tuple(sorted(set(days)))
        self.access_token = access_token
        super().__init__(address, CrmHandler, world, page_size, faults)


class CrmHandler(JsonHandler):
    server: CrmServer
    log = logging.getLogger(__name__)

    def fault_body(self, status: int) -> dict[str, Any]:
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            error = hubspot_error(status, "You have reached your secondly limit.", "RATE_LIMITS")
            return {**error.body(), "errorType": "RATE_LIMIT", "policyName": "SECONDLY"}
        return hubspot_error(status, "internal error", "INTERNAL_ERROR").body()

    def do_GET(self) -> None:
        self.answer(lambda body: self._list())

    def do_POST(self) -> None:
        self.answer(self._search)

    def _list(self) -> dict[str, Any]:
        url = urlsplit(self.path)
        match = _LIST_PATH.match(url.path)
        if match is None:
            raise hubspot_error(HTTPStatus.NOT_FOUND, f"No route for GET {url.path}", "NOT_FOUND")
        self._check_token()
        object_type = OBJECT_TYPES[match["object_type"]]
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        limit = _limit(params.get("limit"), MAX_LIST_LIMIT, self.server.page_size, capped=True)
        start = _offset(params.get("after"))
        asked = [p for p in params.get("properties", "").split(",") if p]
        records = all_records(self.server.world, self.server.days, object_type)
        results = [
            self._malformed(object_type, select_properties(record, object_type, asked))
            for record in records[start : start + limit]
        ]
        response: dict[str, Any] = {"results": results}
        if start + limit < len(records):
            after = str(start + limit)
            host = self.headers.get("Host") or self.server.url.removeprefix("http://")
            link = f"http://{host}{url.path}?{urlencode({**params, 'after': after})}"
            response["paging"] = {"next": {"after": after, "link": link}}
        return response

    def _search(self, body: bytes) -> dict[str, Any]:
        path = urlsplit(self.path).path
        match = _SEARCH_PATH.match(path)
        if match is None:
            raise hubspot_error(HTTPStatus.NOT_FOUND, f"No route for POST {path}", "NOT_FOUND")
        self._check_token()
        object_type = OBJECT_TYPES[match["object_type"]]
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise _invalid("Request body is not valid JSON") from None
        if not isinstance(request, dict):
            raise _invalid("Request body must be a JSON object")
        limit = _limit(request.get("limit"), MAX_SEARCH_LIMIT, self.server.page_size, False)
        start = _offset(request.get("after"))
        if start + limit > MAX_SEARCH_RESULTS:
            raise _invalid(f"Search results are limited to {MAX_SEARCH_RESULTS}; narrow the filter")
        groups = request.get("filterGroups") or []
        matching = [
            record
            for record in all_records(self.server.world, self.server.days, object_type)
            if search_matches(record, groups, object_type)
        ]
        matching = self._sorted(matching, request.get("sorts") or [], object_type)
        asked = request.get("properties") or None
        results = [
            self._malformed(object_type, select_properties(record, object_type, asked))
            for record in matching[start : start + limit]
        ]
        response: dict[str, Any] = {"total": len(matching), "results": results}
        if start + limit < len(matching):
            response["paging"] = {"next": {"after": str(start + limit)}}
        return response

    @staticmethod
    def _sorted(records: list[dict], sorts: list[Any], object_type: ObjectType) -> list[dict]:
        """By id unless one sort on a date property (then id breaks ties) is asked for."""
        if not sorts:
            return records
        if len(sorts) > 1 or not isinstance(sorts[0], dict):
            raise _invalid("Only one sort is supported")
        name, direction = sorts[0].get("propertyName"), sorts[0].get("direction", "ASCENDING")
        if name not in object_type.dates or direction not in ("ASCENDING", "DESCENDING"):
            raise _invalid(f"Unsupported sort: {sorts[0]!r}")
        return sorted(
            records,
            key=lambda r: (parse_instant(r["properties"][name]), int(r["id"])),
            reverse=direction == "DESCENDING",
        )

    def _malformed(self, object_type: ObjectType, record: dict[str, Any]) -> dict[str, Any]:
        world, rate = self.server.world, self.server.faults.malformed_rate
        kind = malformation(world.seed, rate, f"crm/{object_type.name}", record["id"])
        if kind is None:
            return record
        return malform(record, kind, ("id",), object_type.typed_path)

    def _check_token(self) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise hubspot_error(
                HTTPStatus.UNAUTHORIZED,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and private app access tokens (Authorization: Bearer).",
                "INVALID_AUTHENTICATION",
            )
        expected = self.server.access_token
        if expected is not None and token.strip() != expected:
            raise hubspot_error(
                HTTPStatus.UNAUTHORIZED,
                "The access token provided is invalid or expired.",
                "INVALID_AUTHENTICATION",
            )


def make_server(
    world: World,
    days: Sequence[date],
    host: str = "127.0.0.1",
    port: int = 0,
    page_size: int = 10,
    faults: Faults = NO_FAULTS,
    access_token: str | None = None,
) -> CrmServer:
    """A ready-to-serve server (port 0 picks a free port; see `.url`)."""
    return CrmServer((host, port), world, days, page_size, faults, access_token)
