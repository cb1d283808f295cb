"""The GitHub-shaped issue tracker over real HTTP: paging by `Link`, `since`, auth, faults.

Expected records are the World's issues as of the tracker's last day, picked by hand
from their timestamps; page counts are worked out from the record counts.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
import requests

from caravan.simulator import World
from caravan.simulator.faults import MISSING_ID, WRONG_TYPE, WRONG_VALUE, Faults
from caravan.simulator.issue_tracker_api import OWNER, REPO, make_server
from caravan.simulator.text import tracker_issues

WORLD = World(seed=42, scale=1.0)
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(4)]
TOKEN = "tracker-secret"
ISSUES = f"/repos/{OWNER}/{REPO}/issues"
COMMENTS = f"/repos/{OWNER}/{REPO}/issues/comments"
_LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def serve(faults: Faults = Faults(), access_token: str | None = TOKEN) -> Iterator[str]:
    server = make_server(WORLD, DAYS, faults=faults, access_token=access_token)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tracker() -> Iterator[str]:
    yield from serve()


def get(url: str, token: str | None = TOKEN, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(url, params=params, headers=headers, timeout=10)


def links(response: requests.Response) -> dict[str, str]:
    return {rel: url for url, rel in _LINK.findall(response.headers.get("Link", ""))}


def follow(url: str, **params) -> tuple[list[dict], int]:
    """Every record, page after page by `rel="next"`; and how many pages it took."""
    response = get(url, **params)
    records, pages = [], 0
    while True:
        assert response.status_code == 200, response.text
        records += response.json()
        pages += 1
        following = links(response).get("next")
        if following is None:
            return records, pages
        response = get(following)


def held():
    return tracker_issues(WORLD, DAYS)


def github_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_every_issue_is_listed_once_across_pages_linked_by_rel_next(tracker):
    expected = held()
    records, pages = follow(tracker + ISSUES, state="all", per_page=2)
    assert sorted(r["number"] for r in records) == [i.number for i in expected]
    assert len({r["id"] for r in records}) == len(records)
    assert pages == math.ceil(len(expected) / 2)


def test_the_first_page_links_next_and_last_and_a_later_one_prev_and_first(tracker):
    total = len(held())
    last = math.ceil(total / 3)
    first = get(tracker + ISSUES, state="all", per_page=3)
    rels = links(first)
    assert set(rels) == {"next", "last"}
    assert "page=2" in rels["next"] and f"page={last}" in rels["last"]
    assert "per_page=3" in rels["next"] and "state=all" in rels["next"]
    final = get(rels["last"])
    assert set(links(final)) == {"prev", "first"}
    assert len(final.json()) == total - 3 * (last - 1)


def test_state_defaults_to_open_as_on_github(tracker):
    records, _ = follow(tracker + ISSUES)
    assert sorted(r["number"] for r in records) == [i.number for i in held() if i.closed_at is None]
    assert {r["state"] for r in records} == {"open"}
    closed, _ = follow(tracker + ISSUES, state="closed")
    assert {r["state"] for r in closed} == {"closed"}
    assert all(r["closed_at"] for r in closed)


def test_since_returns_what_changed_at_or_after_it_with_no_upper_bound(tracker):
    since = datetime.combine(DAYS[1], time(), tzinfo=UTC)
    records, _ = follow(
        tracker + ISSUES, state="all", since="2026-11-02T00:00:00.000Z", sort="updated",
        direction="asc",
    )  # fmt: skip
    expected = sorted((i for i in held() if i.updated_at >= since),
                      key=lambda i: (i.updated_at, i.number))  # fmt: skip
    assert [r["number"] for r in records] == [i.number for i in expected]
    assert [r["updated_at"] for r in records] == [github_time(i.updated_at) for i in expected]
    # Changes after the day asked for are there too: a client must bound the window.
    assert any(i.updated_at.date() > DAYS[1] for i in expected)


def test_an_issue_has_githubs_fields_and_the_worlds_values(tracker):
    records, _ = follow(tracker + ISSUES, state="all", per_page=100)
    by_number = {r["number"]: r for r in records}
    for issue in held():
        record = by_number[issue.number]
        assert record["id"] == issue.issue_id
        assert record["title"] == issue.title and record["body"] == issue.body
        assert record["user"]["login"] == issue.author
        assert [label["name"] for label in record["labels"]] == list(issue.labels)
        assert all(set(label) == {"id", "name", "color", "description"}
                   for label in record["labels"])  # fmt: skip
        assert record["comments"] == len(issue.comments)
        assert record["created_at"] == github_time(issue.created_at)
        assert record["closed_at"] == (github_time(issue.closed_at) if issue.closed_at else None)
        assert record["html_url"].endswith(f"/{OWNER}/{REPO}/issues/{issue.number}")


def test_comments_are_paged_and_filtered_by_since_in_order_of_update(tracker):
    since = datetime.combine(DAYS[2], time(), tzinfo=UTC)
    records, pages = follow(
        tracker + COMMENTS, since=github_time(since), sort="updated", direction="asc",
        per_page=4,
    )  # fmt: skip
    expected = sorted(
        (c for i in held() for c in i.comments if c.updated_at >= since),
        key=lambda c: (c.updated_at, c.comment_id),
    )
    assert [r["id"] for r in records] == [c.comment_id for c in expected]
    assert pages == math.ceil(len(expected) / 4)
    for record, comment in zip(records, expected, strict=True):
        assert record["issue_url"].endswith(f"{ISSUES}/{comment.issue_number}")
        assert record["body"] == comment.body
        assert record["user"]["login"] == comment.author


def test_without_a_token_it_asks_for_authentication_and_a_wrong_one_is_bad_credentials(tracker):
    missing = get(tracker + ISSUES, token=None)
    assert missing.status_code == 401
    assert missing.json()["message"] == "Requires authentication"
    wrong = get(tracker + ISSUES, token="not-it")
    assert wrong.status_code == 401 and wrong.json()["message"] == "Bad credentials"
    assert "documentation_url" in wrong.json()
    github_style = requests.get(
        tracker + ISSUES, headers={"Authorization": f"token {TOKEN}"}, timeout=10
    )
    assert github_style.status_code == 200


def test_another_repository_is_not_found_and_a_bad_since_is_unprocessable(tracker):
    other = get(tracker + f"/repos/{OWNER}/secrets/issues")
    assert other.status_code == 404 and other.json()["message"] == "Not Found"
    bad = get(tracker + ISSUES, since="yesterday")
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"resource": "Issue", "field": "since", "code": "invalid"}]


def test_faults_answer_throttling_with_retry_after_in_githubs_shape():
    for url in serve(Faults(fault_rate=1.0)):
        statuses = set()
        for _ in range(12):
            response = get(url + ISSUES)
            statuses.add(response.status_code)
            assert response.status_code in (429, 500, 503)
            assert "message" in response.json()
            if response.status_code in (429, 503):
                assert response.headers["Retry-After"] == "1"
        assert 429 in statuses


def test_malformed_records_are_the_ones_the_ground_truth_names():
    rate = 0.3
    truth = WORLD.ground_truth(DAYS, malformed_rate=rate).malformed_records
    for url in serve(Faults(malformed_rate=rate)):
        issues, _ = follow(url + ISSUES, state="all", per_page=100)
        comments, _ = follow(url + COMMENTS, per_page=100)
    for entity, records in (("issues", issues), ("comments", comments)):
        expected = truth[f"issue_tracker/{entity}"]
        missing_id = [r for r in records if "id" not in r]
        wrong = {str(r["id"]) for r in records if r.get("updated_at") == WRONG_VALUE}
        served = {
            str(c.comment_id) if entity == "comments" else str(i.issue_id)
            for i in held()
            for c in (i.comments if entity == "comments" else [None])
        }
        named = {key: kind for key, kind in expected.items() if key in served}
        assert wrong == {k for k, kind in named.items() if kind == WRONG_TYPE}
        assert len(missing_id) == sum(kind == MISSING_ID for kind in named.values())
        assert named, f"no malformed {entity} at rate {rate}"
