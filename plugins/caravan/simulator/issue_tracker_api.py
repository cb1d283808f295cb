"""A GitHub-issues-shaped API over real HTTP: the data team's issues and their comments.

`GET /repos/{owner}/{repo}/issues` (`state`, `since`, `sort`, `direction`, `labels`,
`per_page`, `page`) and `GET /repos/{owner}/{repo}/issues/comments` (`since`, `sort`,
`direction`, `per_page`, `page`) answer GitHub's JSON: ISO `Z` timestamps to the second,
labels as objects, users as `{login, id}`, pages linked by the `Link` header
(`rel="next"`, `rel="last"`, ...). As on GitHub, `since` has no upper bound: a client
reading one day gets every later change too. The tracker holds the issues opened on its
`days`, as they stand at the end of the last one (caravan.simulator.text). A bearer
(or `token`) credential is required; errors use GitHub's `{"message", ...}` shape.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from caravan.simulator.faults import NO_FAULTS, Faults, malform, malformation
from caravan.simulator.http_base import HttpError, JsonHandler, Reply, SimulatorServer
from caravan.simulator.text import LABEL_DETAILS, Issue, IssueComment, tracker_issues
from caravan.simulator.world import World

OWNER = "caravan-shoes"
REPO = "marketing-data"
WEB_URL = "https://github.com"
API_URL = "https://api.github.com"
DOCS_URL = "https://docs.github.com/rest"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
_ISSUES_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues$")
_COMMENTS_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/comments$")
ISSUE_SORTS = ("created", "updated", "comments")
COMMENT_SORTS = ("created", "updated")
# The fields a wrong-typed malformed record spoils (its timestamp of change).
TYPED_PATH = ("updated_at",)


def github_error(status: int, message: str, **extra: Any) -> HttpError:
    return HttpError(
        status,
        {"message": message, **extra, "documentation_url": DOCS_URL, "status": str(status)},
    )


def _invalid(resource: str, field: str) -> HttpError:
    return github_error(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "Validation Failed",
        errors=[{"resource": resource, "field": field, "code": "invalid"}],
    )


def github_time(moment: datetime | None) -> str | None:
    """GitHub's timestamps: UTC, whole seconds, `Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user(login: str) -> dict[str, Any]:
    number = int(hashlib.sha256(login.encode()).hexdigest()[:7], 16)
    return {"login": login, "id": number, "type": "User"}


def label(name: str) -> dict[str, Any]:
    color, description = LABEL_DETAILS[name]
    number = int(hashlib.sha256(name.encode()).hexdigest()[:9], 16)
    return {"id": number, "name": name, "color": color, "description": description}


def issue_record(issue: Issue, api_url: str, owner: str = OWNER, repo: str = REPO) -> dict:
    """An issue as GitHub's REST API returns it."""
    issue_url = f"{api_url}/repos/{owner}/{repo}/issues/{issue.number}"
    return {
        "url": issue_url,
        "repository_url": f"{api_url}/repos/{owner}/{repo}",
        "comments_url": f"{issue_url}/comments",
        "html_url": f"{WEB_URL}/{owner}/{repo}/issues/{issue.number}",
        "id": issue.issue_id,
        "number": issue.number,
        "title": issue.title,
        "user": user(issue.author),
        "labels": [label(name) for name in issue.labels],
        "state": issue.state,
        "state_reason": "completed" if issue.closed_at else None,
        "locked": False,
        "comments": len(issue.comments),
        "created_at": github_time(issue.created_at),
        "updated_at": github_time(issue.updated_at),
        "closed_at": github_time(issue.closed_at),
        "author_association": "MEMBER",
        "body": issue.body,
    }


def comment_record(
    comment: IssueComment, api_url: str, owner: str = OWNER, repo: str = REPO
) -> dict:
    """An issue comment as GitHub's REST API returns it."""
    return {
        "url": f"{api_url}/repos/{owner}/{repo}/issues/comments/{comment.comment_id}",
        "html_url": f"{WEB_URL}/{owner}/{repo}/issues/{comment.issue_number}"
        f"#issuecomment-{comment.comment_id}",
        "issue_url": f"{api_url}/repos/{owner}/{repo}/issues/{comment.issue_number}",
        "id": comment.comment_id,
        "user": user(comment.author),
        "created_at": github_time(comment.created_at),
        "updated_at": github_time(comment.updated_at),
        "author_association": "MEMBER",
        "body": comment.body,
    }


def parse_since(value: str | None, resource: str) -> datetime | None:
    """`since` in ISO 8601 (`YYYY-MM-DDTHH:MM:SSZ`, fractions and offsets allowed)."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(resource, "since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _choice(params: dict[str, str], name: str, allowed: Sequence[str], default: str, what: str):
    value = params.get(name, default)
    if value not in allowed:
        raise _invalid(what, name)
    return value


def _positive(params: dict[str, str], name: str, default: int, what: str) -> int:
    text = params.get(name)
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise _invalid(what, name)
    return int(text)


def page_links(base: str, params: dict[str, str], page: int, last: int) -> str:
    """GitHub's `Link` header: next and last after this page, first and prev before it."""
    links = []

    def link(number: int, rel: str) -> None:
        links.append(f'<{base}?{urlencode({**params, "page": str(number)})}>; rel="{rel}"')

    if page > 1:
        link(page - 1, "prev")
    if page < last:
        link(page + 1, "next")
        link(last, "last")
    if page > 1:
        link(1, "first")
    return ", ".join(links)


class IssueTrackerServer(SimulatorServer):
    """One repository's issues opened on `days`, as they stand at the end of the last."""

    source = "issue_tracker"

    def __init__(
        self,
        address: tuple[str, int],
        world: World,
        days: Sequence[date],
        page_size: int = DEFAULT_PER_PAGE,
        faults: Faults = NO_FAULTS,
        access_token: str | None = None,
        owner: str = OWNER,
        repo: str = REPO,
    ) -> None:
        self.days = tuple(sorted(set(days)))
        self.access_token = access_token
        self.owner = owner
        self.repo = repo
        self.issues = tracker_issues(world, list(self.days))
        super().__init__(address, IssueTrackerHandler, world, page_size, faults)


class IssueTrackerHandler(JsonHandler):
    server: IssueTrackerServer
    log = logging.getLogger(__name__)

    def fault_body(self, status: int) -> dict[str, Any]:
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            return github_error(status, "API rate limit exceeded for installation.").body()
        return github_error(status, "Server Error").body()

    def do_GET(self) -> None:
        self.answer(lambda body: self._get())

    def do_POST(self) -> None:
        self.answer(lambda body: self._not_found())

    def _not_found(self) -> Any:
        raise github_error(HTTPStatus.NOT_FOUND, "Not Found")

    def _get(self) -> Reply:
        url = urlsplit(self.path)
        comments = _COMMENTS_PATH.match(url.path)
        issues = _ISSUES_PATH.match(url.path)
        match = comments or issues
        if match is None:
            self._not_found()
        self._check_token()
        if (match["owner"], match["repo"]) != (self.server.owner, self.server.repo):
            self._not_found()  # GitHub answers 404, never 403, for a repository one cannot see
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if comments:
            records = self._comments(params)
            what = "IssueComment"
        else:
            records = self._issues(params)
            what = "Issue"
        per_page = min(_positive(params, "per_page", self.server.page_size, what), MAX_PER_PAGE)
        page = _positive(params, "page", 1, what)
        last = max(1, -(-len(records) // per_page))
        chosen = records[(page - 1) * per_page : page * per_page]
        host = self.headers.get("Host") or self.server.url.removeprefix("http://")
        links = page_links(f"http://{host}{url.path}", params, page, last)
        return Reply(chosen, {"Link": links} if links else {})

    def _api_url(self) -> str:
        """The API's canonical address in records (as GitHub's `url`s name api.github.com
        whatever proxy served them): a rerun delivers the same bytes on another port."""
        return API_URL

    def _issues(self, params: dict[str, str]) -> list[dict]:
        state = _choice(params, "state", ("open", "closed", "all"), "open", "Issue")
        sort = _choice(params, "sort", ISSUE_SORTS, "created", "Issue")
        direction = _choice(params, "direction", ("asc", "desc"), "desc", "Issue")
        since = parse_since(params.get("since"), "Issue")
        wanted = {name for name in params.get("labels", "").split(",") if name}
        chosen = [
            issue
            for issue in self.server.issues
            if (state == "all" or issue.state == state)
            and (since is None or issue.updated_at >= since)
            and wanted <= set(issue.labels)
        ]
        ordered = sorted(chosen, key=lambda i: (_issue_sort_key(i, sort), i.number))
        if direction == "desc":
            ordered.reverse()
        api = self._api_url()
        owner, repo = self.server.owner, self.server.repo
        return [
            self._malformed("issues", issue_record(issue, api, owner, repo)) for issue in ordered
        ]

    def _comments(self, params: dict[str, str]) -> list[dict]:
        sort = _choice(params, "sort", COMMENT_SORTS, "created", "IssueComment")
        direction = _choice(params, "direction", ("asc", "desc"), "asc", "IssueComment")
        since = parse_since(params.get("since"), "IssueComment")
        chosen = [
            comment
            for issue in self.server.issues
            for comment in issue.comments
            if since is None or comment.updated_at >= since
        ]
        ordered = sorted(
            chosen,
            key=lambda c: (c.updated_at if sort == "updated" else c.created_at, c.comment_id),
        )
        if direction == "desc":
            ordered.reverse()
        api = self._api_url()
        owner, repo = self.server.owner, self.server.repo
        return [
            self._malformed("comments", comment_record(comment, api, owner, repo))
            for comment in ordered
        ]

    def _malformed(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        world, rate = self.server.world, self.server.faults.malformed_rate
        kind = malformation(world.seed, rate, f"issue_tracker/{entity}", str(record["id"]))
        if kind is None:
            return record
        return malform(record, kind, ("id",), TYPED_PATH)

    def _check_token(self) -> None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            raise github_error(HTTPStatus.UNAUTHORIZED, "Requires authentication")
        expected = self.server.access_token
        if expected is not None and token.strip() != expected:
            raise github_error(HTTPStatus.UNAUTHORIZED, "Bad credentials")


def _issue_sort_key(issue: Issue, sort: str) -> Any:
    if sort == "updated":
        return issue.updated_at
    if sort == "comments":
        return len(issue.comments)
    return issue.created_at


def make_server(
    world: World,
    days: Sequence[date],
    host: str = "127.0.0.1",
    port: int = 0,
    page_size: int = DEFAULT_PER_PAGE,
    faults: Faults = NO_FAULTS,
    access_token: str | None = None,
) -> IssueTrackerServer:
    """A ready-to-serve server (port 0 picks a free port; see `.url`)."""
    return IssueTrackerServer((host, port), world, days, page_size, faults, access_token)
