"""Great Expectations Data Docs for the gates: a page per gate run and an index of recent runs.

GX's own `UpdateDataDocsAction` rebuilds the index from every stored validation result: it
lists the stores and loads and renders each past run (about 2 ms a run, and 0.8 to 2 s per
gate once a week of gates, about 300, is stored). Gates run hundreds of times a week, in
several processes at once, so their checkpoints run `UpdateGateDocsAction` instead: it renders
this run's page with GX's own renderer and view, at the path GX's site builder uses, then,
under a file lock, adds the run to a ledger of the `INDEX_LIMIT` most recent runs and renders
GX's index page from that ledger. Its cost does not grow with history. The ledger also keeps
each run's row of the index as GX rendered it (its cells' HTML): rendering the index then
renders only the rows of runs it did not list before, GX's page around them included (a
full render of 100 rows costs about 30 ms of CPU, most of it GX deep-copying the rows' cell
objects; with the rows kept, about 3 ms).

The pages are static HTML under `site_dir`; `index.html` opens in any browser, with no network:
GX's templates load Bootstrap, jQuery, bootstrap-table and Font Awesome from public CDNs, so
every page we write points at copies of those files bundled with Caravan (`data_docs_assets/`,
copied to `static/vendor/` of the site) instead. GX's validation results (JSON) are kept in
the context's filesystem store as well, so GX's `context.build_data_docs()` can rebuild a full
site from them if ever needed.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import great_expectations
import tzlocal
from filelock import FileLock
from great_expectations.checkpoint.actions import ActionContext, ValidationAction
from great_expectations.checkpoint.checkpoint import CheckpointResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.store.html_site_store import HtmlSiteStore
from great_expectations.data_context.types.resource_identifiers import (
    ValidationResultIdentifier,
)
from great_expectations.render.renderer import SiteIndexPageRenderer, ValidationResultsPageRenderer
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import FileSystemBytecodeCache, pass_context

from caravan.quality import names

log = logging.getLogger(__name__)

#: Runs listed on the index page, newest first: about two days of the demo (45 gates a day).
#: GX renders the index at 1 to 2 ms a run listed; older pages stay on disk, and
#: `caravan quality` names the page of each latest result.
INDEX_LIMIT = 100
#: Seconds a gate waits for another gate's index update before giving up on its own.
LOCK_TIMEOUT = 120.0
SITE_NAME = "Caravan quality gates"

_LEDGER = ".caravan_index.json"
_LOCK = ".caravan_index.lock"

#: Stylesheets, scripts and fonts GX's templates load from CDNs, bundled (see its README.md).
ASSETS_DIR = Path(__file__).parent / "data_docs_assets"
#: Where the site keeps its copy of `ASSETS_DIR`, relative to the site.
VENDOR_DIR = "static/vendor"
#: Each CDN URL in GX's templates (GX 1.x) and its copy under `ASSETS_DIR`.
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/bootstrap.min.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/popper.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js"
    ),
    # The index links the minified stylesheet, run pages the unminified one: the same rules.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.0/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.0/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free-6.6.0/css/all.min.css"
    ),
    # The minified stylesheet of the same release: 153 kB instead of 883 kB.
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css",
}
#: A `<script>` or `<link>` tag loading a remote file.
_REMOTE_TAG = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="(?P<url>https://[^"]+)"[^>]*>')
#: Subresource-integrity attributes: a browser refuses a `file://` script that has them.
_SRI_ATTRIBUTE = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"')
#: Vega's charting scripts (floating versions, about 1 MB): only GX's KL-divergence
#: expectation draws a chart, and no gate uses it.
_VEGA_SCRIPT = re.compile(
    r'<script src="https://cdn\.jsdelivr\.net/npm/vega[a-z-]*@\d+"></script>\n?'
)
#: GX's logo, which the navbar loads from GX's S3 bucket: the light one is among GX's images
#: the site copies; the dark theme's is not, so it shows the light one too.
_GX_LOGO = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
    r"(?:logo-long|full_logo_dark)\.png(?:\?[^\"')]*)?"
)
#: GX's favicon link: GX counts one folder too few above a run's page.
_GX_FAVICON = re.compile(r'href="[./]*static/images/favicon\.ico"')


@dataclass(frozen=True)
class DataDocs:
    """Where a gate keeps its Data Docs site and GX's validation results store."""

    site_dir: Path
    store_dir: Path

    @property
    def index_path(self) -> Path:
        return self.site_dir / "index.html"


def page_relpath(key: ValidationResultIdentifier) -> str:
    """The page of one validation, relative to the site (GX's site builder layout)."""
    return names.page_relpath(
        key.expectation_suite_identifier.name,
        key.run_id.run_name,
        key.run_id.run_time,
        key.batch_identifier,
    )


def page_path(site_dir: Path, key: ValidationResultIdentifier) -> Path:
    return Path(site_dir) / page_relpath(key)


def render_validation_page(result: Any, site_dir: Path | None = None) -> str:
    """One validation result as a GX Data Docs page (HTML)."""
    return _view(DefaultJinjaPageView, site_dir).render(
        ValidationResultsPageRenderer().render(result), show_how_to_buttons=False
    )


def localize_assets(html: str, page: str) -> str:
    """The page with its CDN stylesheets, scripts, logo and icon pointed at the site's copies.

    `page` is the page's path relative to the site (`index.html`, `validations/…/x.html`):
    links are relative, so the site works as plain files wherever it is and however opened.
    """
    root = "../" * len(PurePosixPath(page).parent.parts)

    def local(tag: re.Match) -> str:
        url = tag["url"]
        if url not in CDN_ASSETS:
            return tag[0]
        return _SRI_ATTRIBUTE.sub("", tag[0].replace(url, f"{root}{VENDOR_DIR}/{CDN_ASSETS[url]}"))

    html = _VEGA_SCRIPT.sub("", html)
    html = _GX_LOGO.sub(f"{root}static/images/logo-long.png", html)
    html = _GX_FAVICON.sub(f'href="{root}static/images/favicon.ico"', html)
    return _REMOTE_TAG.sub(local, html)


def copy_vendored_assets(site_dir: Path) -> None:
    """Copy the bundled assets into the site, skipping files already there at the same size:
    a `stat` per file (about 20) a gate. A new version of a library comes in a folder named
    for it."""
    target = Path(site_dir) / VENDOR_DIR
    for relative, size in _bundled_assets():
        dest = target / relative
        try:
            if dest.stat().st_size == size:
                continue
        except FileNotFoundError:
            pass
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ASSETS_DIR / relative, dest)


@functools.cache
def _bundled_assets() -> tuple[tuple[Path, int], ...]:
    """The bundled files (relative to `ASSETS_DIR`) and their sizes, listed once a process."""
    files = sorted(path for path in ASSETS_DIR.rglob("*") if path.is_file())
    return tuple((path.relative_to(ASSETS_DIR), path.stat().st_size) for path in files)


def named_batch(result: Any, key: ValidationResultIdentifier) -> Any:
    """A copy of the result whose batch is named on its page: GX's page takes the data asset
    from the batch spec, which for an in-memory frame names none (`Data asset: None`)."""
    named = copy.copy(result)
    batch_spec = dict(result.meta.get("batch_spec") or {})
    batch_spec["data_asset_name"] = key.batch_identifier
    named.meta = {**result.meta, "batch_spec": batch_spec}
    return named


def index_entry(key: ValidationResultIdentifier, result: Any) -> dict[str, Any]:
    """What the index lists about one run: plain JSON, so the ledger needs no GX objects."""
    return {
        "suite_name": key.expectation_suite_identifier.name,
        "run_name": key.run_id.run_name,
        "run_time": key.run_id.run_time.isoformat(),
        "batch_identifier": key.batch_identifier,
        "asset_name": (result.meta.get("batch_spec") or {}).get("data_asset_name"),
        "success": bool(result.success),
        "statistics": dict(result.statistics or {}),
        "path": page_relpath(key),
    }


def merge_ledger(ledger: list[dict], new: Iterable[dict], limit: int) -> list[dict]:
    """The `limit` newest entries, newest first; a run recorded again replaces its entry."""
    new = list(new)
    paths = {entry["path"] for entry in new}
    kept = [entry for entry in ledger if entry["path"] not in paths]
    merged = sorted(new + kept, key=lambda entry: entry["run_time"], reverse=True)
    return merged[:limit]


def index_links(ledger: list[dict]) -> dict[str, Any]:
    """The ledger in the shape GX's `SiteIndexPageRenderer` takes (as GX's index builder does)."""
    links = []
    for entry in ledger:
        run_time = dt.datetime.fromisoformat(entry["run_time"])
        path = urllib.parse.quote(entry["path"])
        links.append(
            {
                "expectation_suite_name": entry["suite_name"],
                "filepath": path,
                "run_id": RunIdentifier(run_name=entry["run_name"], run_time=run_time),
                "batch_identifier": entry["batch_identifier"],
                "validation_success": entry["success"],
                "run_time": run_time,
                "run_name": entry["run_name"],
                "asset_name": entry["asset_name"],
                "batch_kwargs": {},
                "batch_spec": entry["statistics"],
                # No suite pages: suites are built in code per partition, and each run's page
                # shows its expectations as run.
                "expectation_suite_filepath": path,
            }
        )
    return {"site_name": SITE_NAME, "validations_links": links}


def render_index(ledger: list[dict], site_dir: Path | None = None) -> str:
    """GX's index page of the ledger's runs, newest first.

    GX renders the rows of the runs it has not listed before (or that another GX version or
    time zone rendered: the index shows run times in local time); the others are the rows it
    rendered then, which each entry keeps (`row`, `row_renderer`) and this fills in for the
    new ones, so `update_index` keeps them in the ledger. The page is the one GX renders from
    all the entries at once (tested).
    """
    renderer = row_renderer()
    new = [entry for entry in ledger if entry.get("row_renderer") != renderer]
    # GX's page needs at least one row to have a table: a listed run is rendered again.
    document = SiteIndexPageRenderer.render(index_links(new or ledger[:1]))
    # Rows go by their page's path, as `index_links` gives it to GX.
    paths = [urllib.parse.quote(entry["path"]) for entry in ledger]
    rows = _IndexRows(
        paths=paths,
        kept={
            path: entry["row"]
            for path, entry in zip(paths, ledger, strict=True)
            if entry.get("row_renderer") == renderer
        },
    )
    html = _view(_IndexPageView, site_dir).render(
        document, show_how_to_buttons=False, **{_INDEX_ROWS: rows}
    )
    for path, entry in zip(paths, ledger, strict=True):
        if entry.get("row_renderer") != renderer:
            entry["row"], entry["row_renderer"] = rows.rendered[path], renderer
    return html


def row_renderer() -> str:
    """What an index row depends on besides its run: GX's version and the local time zone."""
    return f"great_expectations {great_expectations.__version__}, {tzlocal.get_localzone()}"


#: The template variable that hands `_IndexPageView` the index's rows.
_INDEX_ROWS = "caravan_index_rows"


@dataclass
class _IndexRows:
    """The index's rows in order (by page path), those rendered before, and (filled in while
    GX renders) the rows GX rendered now."""

    paths: list[str]
    kept: dict[str, dict]
    rendered: dict[str, dict] = field(default_factory=dict)


class _IndexPageView(DefaultJinjaIndexPageView):
    """GX's index page view, which takes the rows of runs it rendered before as they are.

    GX's template passes the table's rows through `render_bootstrap_table_data`, which renders
    each cell with GX's templates; here it does that for the rows in the document (the new
    runs), then lists every run's row in the ledger's order.
    """

    @pass_context
    def render_bootstrap_table_data(
        self,
        context: Any,
        table_data: Iterable[dict],
        index: Any | None = None,
        content_block_id: str | None = None,
    ):
        rendered = super().render_bootstrap_table_data(context, table_data, index, content_block_id)
        rows: _IndexRows | None = context.get(_INDEX_ROWS)
        if rows is None:
            return rendered
        rows.rendered.update({row["_table_row_link_path"]: row for row in rendered})
        return [rows.rendered.get(path) or rows.kept[path] for path in rows.paths]


@functools.cache
def _view(view_class: type, site_dir: Path | None) -> Any:
    """A GX view whose Jinja templates compile once per process and, through a bytecode
    cache in the site, once per site: compiling GX's templates costs about 0.5 s, more
    than rendering a page (each gate task is a new process under Airflow's executors)."""
    view = view_class()
    if site_dir is not None:
        cache = Path(site_dir) / ".jinja_cache"
        cache.mkdir(parents=True, exist_ok=True)
        # Jinja writes each compiled template to a temporary file and renames it into place,
        # so concurrent gates can share the folder.
        view.env.bytecode_cache = FileSystemBytecodeCache(str(cache))
    return view


def update_index(site_dir: Path, entries: list[dict], limit: int = INDEX_LIMIT) -> Path:
    """Add runs to the ledger and re-render the index, one gate at a time across processes."""
    site_dir = Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(site_dir / _LOCK), timeout=LOCK_TIMEOUT):
        if not (site_dir / "static").is_dir():  # GX's images, stylesheets and fonts, once
            _site_store(site_dir).copy_static_assets()
        copy_vendored_assets(site_dir)
        ledger = merge_ledger(read_ledger(site_dir), entries, limit)
        html = localize_assets(render_index(ledger, site_dir), "index.html")  # rows: in ledger
        # No indent: json's C encoder (the rows' HTML makes the ledger about 200 kB).
        _write_atomically(site_dir / _LEDGER, json.dumps(ledger))
        index = site_dir / "index.html"
        _write_atomically(index, html)
    return index


def read_ledger(site_dir: Path) -> list[dict]:
    path = Path(site_dir) / _LEDGER
    if not path.exists():
        return []
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # written atomically, so only a hand edit gets here: start afresh
        log.warning("Data Docs index ledger %s is not JSON; starting a new index", path)
        return []


class UpdateGateDocsAction(ValidationAction):
    """Checkpoint action: this run's Data Docs page, and the index of recent runs.

    Data Docs are a view of the gate's outcome, which the warehouse records anyway: a failure
    to render them is logged as a warning and never fails the gate.
    """

    type: Literal["caravan_update_gate_docs"] = "caravan_update_gate_docs"
    site_dir: str
    index_limit: int = INDEX_LIMIT

    def run(
        self, checkpoint_result: CheckpointResult, action_context: ActionContext | None = None
    ) -> dict:
        site_dir = Path(self.site_dir)
        try:
            entries = []
            for key, result in checkpoint_result.run_results.items():
                # Each run has its own page (its run time is in the path): no lock needed.
                result = named_batch(result, key)
                html = render_validation_page(result, site_dir)
                _write_atomically(
                    page_path(site_dir, key), localize_assets(html, page_relpath(key))
                )
                entries.append(index_entry(key, result))
            index = update_index(site_dir, entries, self.index_limit)
        except Exception as error:  # noqa: BLE001 - docs must not decide the gate
            log.warning(
                "Data Docs not updated under %s: %s: %s", site_dir, type(error).__name__, error
            )
            return {}
        return {"index": str(index), "pages": [str(site_dir / entry["path"]) for entry in entries]}


def _site_store(site_dir: Path) -> HtmlSiteStore:
    return HtmlSiteStore(
        store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)}
    )


def _write_atomically(path: Path, text: str) -> None:
    """Readers (a browser, another gate) see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a docs site is for reading
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
