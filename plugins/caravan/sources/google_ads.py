"""Google Ads: GAQL over the REST `googleAds:search` endpoint, paged by dlt's REST client.

dlt's client brings pagination (page tokens in the JSON body) and retries with
backoff on 429/5xx; this module only says what to ask for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from caravan.sources import SourceError

API_VERSION = "v21"

QUERIES = {
    "campaigns": (
        "SELECT campaign.id, campaign.name, campaign.status, "
        "campaign.advertising_channel_type FROM campaign"
    ),
    "campaign_performance": (
        "SELECT campaign.id, campaign.name, metrics.cost_micros, metrics.impressions, "
        "metrics.clicks, metrics.conversions, segments.date FROM campaign "
        "WHERE segments.date BETWEEN '{start}' AND '{end}'"
    ),
}


@dataclass(frozen=True)
class GoogleAdsConfig:
    base_url: str
    customer_id: str
    access_token: str
    developer_token: str

    def __repr__(self) -> str:  # never print tokens
        return f"GoogleAdsConfig(base_url={self.base_url!r}, customer_id={self.customer_id!r})"

    @classmethod
    def from_connection(cls, conn: Any) -> GoogleAdsConfig:
        """From an Airflow connection: host = API URL, password = OAuth access token,
        extra = {"customer_id", "developer_token"}."""
        extra = conn.extra_dejson
        missing = [k for k in ("customer_id", "developer_token") if not extra.get(k)]
        if not conn.host or not conn.password or missing:
            raise ValueError(
                f"connection {conn.conn_id!r}: google_ads needs host, password (access token)"
                f" and extra customer_id, developer_token; missing {missing or 'host/password'}"
            )
        return cls(
            conn.host.rstrip("/"),
            str(extra["customer_id"]),
            conn.password,
            extra["developer_token"],
        )


def search(config: GoogleAdsConfig, query: str) -> Iterator[dict]:
    """Every row a GAQL query returns, following `nextPageToken` to the last page."""
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.auth import BearerTokenAuth
    from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

    client = RESTClient(
        base_url=config.base_url,
        headers={"developer-token": config.developer_token},
        auth=BearerTokenAuth(config.access_token),
        paginator=JSONResponseCursorPaginator(
            cursor_path="nextPageToken", cursor_body_path="pageToken"
        ),
        data_selector="results",
    )
    path = f"/{API_VERSION}/customers/{config.customer_id}/googleAds:search"
    try:
        for page in client.paginate(path, method="POST", json={"query": query}):
            yield from page
    except requests.HTTPError as error:
        raise SourceError(
            f"google_ads: {config.base_url}{path} answered HTTP {error.response.status_code}"
            f" ({_error_message(error.response)}) to: {query}"
        ) from error


def _error_message(response: requests.Response) -> str:
    """Google's error message from a JSON error body, else the start of the body."""
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def extract(config: GoogleAdsConfig, entity: str, start: str, end: str) -> Iterator[dict]:
    """Rows of `entity` for the dates start..end (inclusive), as the API delivers them."""
    if entity not in QUERIES:
        raise ValueError(f"google_ads: unknown entity {entity!r}; known: {sorted(QUERIES)}")
    return search(config, QUERIES[entity].format(start=start, end=end))
