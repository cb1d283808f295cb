"""Data Docs from real gate runs: GX renders, the pages land on disk, the index lists them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import re
import urllib.parse
from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd
import pytest
from great_expectations.render.renderer import SiteIndexPageRenderer
from great_expectations.render.view import DefaultJinjaIndexPageView

from caravan.quality.docs import (
    ASSETS_DIR,
    CDN_ASSETS,
    VENDOR_DIR,
    DataDocs,
    copy_vendored_assets,
    index_links,
    localize_assets,
    merge_ledger,
    read_ledger,
    render_index,
    row_renderer,
)
from caravan.quality.gate import Check, GateFailed, run_gate, validate_batch
from caravan.quality.names import gate_page


def orders() -> pd.DataFrame:
    """Lines 2 and 4 have no order_id."""
    return pd.DataFrame({"line_id": [1, 2, 3, 4], "order_id": [10, None, 20, None]})


def checks() -> list[Check]:
    return [
        Check(gxe.ExpectColumnValuesToNotBeNull(column="order_id")),
        Check(gxe.ExpectColumnValuesToBeUnique(column="line_id")),
    ]


def gate(docs: DataDocs, *, source="shop_db", entity="orders", ds="2026-11-03", run_id="run-1"):
    return validate_batch(
        orders(),
        checks(),
        stage="raw",
        source=source,
        entity=entity,
        ds=ds,
        run_id=run_id,
        key_columns=["line_id"],
        data_docs=docs,
    )


def page_of(url: str) -> Path:
    return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))


def text(html: str) -> str:
    """The page's visible text, on one line."""
    html = re.sub(r"<(script|style).*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def index_rows(docs: DataDocs) -> list[str]:
    """The suites of the rows on GX's index page, in page order (its table data is inline)."""
    html = docs.index_path.read_text(encoding="utf-8")
    return re.findall(r"'_expectation_suite_name_sort': '([^']*)'", html)


def test_gate_page_names_the_suite_batch_and_failing_expectation(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    result = gate(docs)

    page = page_of(result.docs_url)
    # GX's layout: validations/<suite split on dots>/<run name>/<run time>/<batch id>.html
    relative = page.relative_to(docs.site_dir).as_posix()
    assert re.fullmatch(
        r"validations/raw/shop_db/orders/run-1/\d{8}T\d{6}\.\d{6}Z/raw\.shop_db-orders\.ds=2026-11-03\.html",
        relative,
    ), relative
    html = page.read_text(encoding="utf-8")
    assert "raw.shop_db.orders" in html  # the suite
    assert "Data asset: raw.shop_db-orders.ds=2026-11-03" in text(html)  # the batch: entity, ds
    assert "Run Name run-1" in text(html)
    assert "order_id" in html
    assert "values must never be null" in html  # GX's wording of the failing expectation
    # The page is where `caravan quality` looks for it from the warehouse row alone.
    row = result.rows[0]
    assert (
        gate_page(
            docs.site_dir,
            stage="raw",
            source="shop_db",
            entity="orders",
            ds="2026-11-03",
            run_id="run-1",
            validated_at=row["validated_at"],
        )
        == page
    )
    # GX's own validation result is kept too, in its filesystem store.
    stored = list((docs.store_dir / "validations" / "raw" / "shop_db" / "orders").rglob("*.json"))
    assert len(stored) == 1
    assert json.loads(stored[0].read_text())["success"] is False


def test_index_lists_each_run_newest_first_with_its_outcome(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    gate(docs, entity="orders", run_id="run-1")
    gate(docs, entity="customers", run_id="run-1")

    assert docs.index_path.exists()
    assert (docs.site_dir / "static" / "styles" / "data_docs_default_styles.css").exists()
    assert index_rows(docs) == ["raw.shop_db.customers", "raw.shop_db.orders"]
    ledger = read_ledger(docs.site_dir)
    assert [entry["success"] for entry in ledger] == [False, False]
    assert [entry["batch_identifier"] for entry in ledger] == [
        "raw.shop_db-customers.ds=2026-11-03",
        "raw.shop_db-orders.ds=2026-11-03",
    ]


def test_failed_gate_message_links_its_page(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    with pytest.raises(GateFailed) as failed:
        run_gate(
            orders(),
            checks(),
            stage="raw",
            source="shop_db",
            entity="orders",
            ds="2026-11-03",
            run_id="run-1",
            key_columns=["line_id"],
            warehouse_path=tmp_path / "warehouse.duckdb",
            data_docs=docs,
        )
    result = failed.value.result
    assert result.docs_url.startswith("file://")
    assert page_of(result.docs_url).exists()
    assert str(failed.value).splitlines()[-1] == f"  Data Docs: {result.docs_url}"


def test_without_data_docs_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = gate(None)
    assert result.docs_url is None
    assert list(tmp_path.iterdir()) == []


def _gate_in_process(site: str, store: str, entity: str) -> str:
    return gate(DataDocs(Path(site), Path(store)), entity=entity).docs_url


def test_gates_in_parallel_processes_both_reach_the_index(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    context = multiprocessing.get_context("spawn")  # each gate a fresh process, as in Airflow
    with context.Pool(2) as pool:
        urls = pool.starmap(
            _gate_in_process,
            [(str(docs.site_dir), str(docs.store_dir), entity) for entity in ("orders", "items")],
        )

    assert all(page_of(url).exists() for url in urls)
    assert sorted(index_rows(docs)) == ["raw.shop_db.items", "raw.shop_db.orders"]
    assert len(read_ledger(docs.site_dir)) == 2


def gx_index(ledger: list[dict]) -> str:
    """The index GX renders from every run of the ledger at once (no row kept)."""
    page = DefaultJinjaIndexPageView().render(
        SiteIndexPageRenderer.render(index_links(ledger)), show_how_to_buttons=False
    )
    return localize_assets(page, "index.html")


def same_page(html: str) -> str:
    """GX stamps some links with the time it rendered them (`?d=…`)."""
    return re.sub(r"\?d=\d{8}T\d{6}\.\d{6}Z", "?d=…", html)


def test_index_from_kept_rows_is_the_page_gx_renders_from_all_runs(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    gate(docs, entity="orders", run_id="run-1")
    gate(docs, entity="customers", run_id="run-1")
    gate(docs, entity="orders", run_id="run-2")

    ledger = read_ledger(docs.site_dir)
    # Each run's row, as GX rendered it when it was new, is kept for the next index.
    assert [entry["row_renderer"] for entry in ledger] == [row_renderer()] * 3
    assert [entry["row"]["_batch_identifier_sort"] for entry in ledger] == [
        "raw.shop_db-orders.ds=2026-11-03",
        "raw.shop_db-customers.ds=2026-11-03",
        "raw.shop_db-orders.ds=2026-11-03",
    ]
    assert [entry["row"]["run_name"] for entry in ledger] == ["run-2", "run-1", "run-1"]
    written = docs.index_path.read_text(encoding="utf-8")
    assert same_page(written) == same_page(gx_index(ledger))
    assert index_rows(docs) == ["raw.shop_db.orders", "raw.shop_db.customers", "raw.shop_db.orders"]


def test_the_next_gate_lists_the_kept_rows_as_they_are(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    gate(docs, entity="orders", run_id="run-1")
    ledger_file = docs.site_dir / ".caravan_index.json"
    ledger = json.loads(ledger_file.read_text())
    ledger[0]["row"]["run_name"] = "as kept"  # what GX would not render from the run
    ledger_file.write_text(json.dumps(ledger))

    gate(docs, entity="customers", run_id="run-2")

    html = docs.index_path.read_text(encoding="utf-8")
    assert "'run_name': 'as kept'" in html
    assert "'run_name': 'run-2'" in html  # the new run's row, rendered by GX
    assert "'run_name': 'run-1'" not in html


def test_a_row_another_renderer_kept_is_rendered_again(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    gate(docs, entity="orders")
    [entry] = read_ledger(docs.site_dir)
    # As another GX version (or another time zone) left it.
    stale = {**entry, "row_renderer": "great_expectations 0.18.0, Asia/Tokyo"}
    stale["row"] = {**entry["row"], "run_time": "2026-11-03 09:00:00 JST"}

    html = render_index([stale], docs.site_dir)

    assert "JST" not in html
    assert stale["row_renderer"] == row_renderer()
    assert stale["row"] == entry["row"]
    assert same_page(localize_assets(html, "index.html")) == same_page(gx_index([entry]))


def entry(path: str, minute: int) -> dict:
    return {"path": path, "run_time": dt.datetime(2026, 11, 3, 0, minute).isoformat()}


def test_ledger_keeps_the_newest_runs_and_replaces_a_rerendered_one():
    ledger = [entry("a", 1), entry("b", 2)]

    merged = merge_ledger(ledger, [entry("c", 3), entry("a", 4)], limit=2)

    assert merged == [entry("a", 4), entry("c", 3)]  # b, the oldest, falls off the index


# Offline Data Docs: GX's templates load their stylesheets, scripts and fonts from CDNs; the
# pages we write load Caravan's bundled copies, so they display with no network.

#: What a page loads: scripts, stylesheets and icons, images, and CSS `url(...)`s.
ASSET_REF = re.compile(
    r"<script\b[^>]*\bsrc=\"([^\"]+)\"|<link\b[^>]*\bhref=\"([^\"]+)\"|<img\b[^>]*\bsrc=\"([^\"]+)\""
    r"|url\(['\"]?([^'\")]+)['\"]?\)",
    flags=re.S,
)


def asset_refs(html: str) -> list[str]:
    refs = ["".join(groups) for groups in ASSET_REF.findall(html)]
    return [ref for ref in refs if not ref.startswith("data:")]


def font_sources(css: str) -> list[list[str]]:
    """The `url(...)`s of each `@font-face`, in the order a browser tries them."""
    faces = re.findall(r"@font-face\s*\{([^}]*)\}", css)
    return [re.findall(r"url\(['\"]?([^'\")]+)['\"]?\)", face) for face in faces]


def test_pages_load_every_asset_from_the_site(tmp_path):
    docs = DataDocs(tmp_path / "data_docs", tmp_path / "gx")
    page = page_of(gate(docs).docs_url)

    for html_file in (docs.index_path, page):
        refs = asset_refs(html_file.read_text(encoding="utf-8"))
        assert not [ref for ref in refs if "//" in ref], html_file  # no http(s):// nor //cdn
        files = [(html_file.parent / urllib.parse.unquote(ref)).resolve() for ref in refs]
        assert [ref for ref, file in zip(refs, files) if not file.is_file()] == [], html_file
        assert all(file.is_relative_to(docs.site_dir.resolve()) for file in files)
        names = {file.name for file in files}
        # What draws the index's table of runs and styles the pages: loaded, from the site.
        assert {"jquery.min.js", "bootstrap.min.css", "bootstrap-table.min.js"} <= names
        assert {"all.min.css", "logo-long.png", "favicon.ico"} <= names

        # Font Awesome's fonts: each @font-face's first source, the woff2, is in the site.
        stylesheets = [file for file in files if file.suffix == ".css"]
        faces = [
            (css, sources)
            for css in stylesheets
            for sources in font_sources(css.read_text(encoding="utf-8"))
        ]
        assert len(faces) >= 3
        for css, sources in faces:
            assert sources[0].endswith(".woff2"), (css, sources)
            assert (css.parent / sources[0]).is_file(), (css, sources[0])


def test_vendored_files_are_the_versions_gx_names():
    """GX's template pins two scripts by hash; the others name their version in a header."""
    html = render_index([])
    pinned = dict(re.findall(r'src="(https://[^"]+)" integrity="sha384-([^"]+)"', html))
    assert len(pinned) == 2
    for url, digest in pinned.items():
        data = (ASSETS_DIR / CDN_ASSETS[url]).read_bytes()
        assert base64.b64encode(hashlib.sha384(data).digest()).decode() == digest, url

    checked = 0
    for url, local in CDN_ASSETS.items():
        header = (ASSETS_DIR / local).read_text(encoding="utf-8")[:600]
        if re.search(r"\bv?\d+\.\d+\.\d+\b", header):  # Popper's and bootstrap-dark's have none
            version = re.search(r"\d+\.\d+\.\d+", url)[0]
            assert re.search(rf"\bv?{re.escape(version)}\b", header), (url, local)
            checked += 1
    assert checked == 11


def test_localize_assets_points_cdn_files_at_the_site_copy():
    html = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>\n'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>\n'
        '<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"'
        ' integrity="sha384-abc" crossorigin="anonymous"></script>\n'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1"/>\n'
        '<a href="https://greatexpectations.io">Great Expectations</a>\n'
    )

    run_page = localize_assets(html, "validations/raw/shop_db/orders/run-1/T/x.html")
    index = localize_assets(html, "index.html")

    up = "../../../../../../"  # from validations/raw/shop_db/orders/run-1/T/ to the site
    assert run_page == (
        f'<link rel="stylesheet" href="{up}static/vendor/bootstrap-4.3.1/bootstrap.min.css"/>\n'
        f'<script src="{up}static/vendor/popper.js-1.12.9/popper.min.js"></script>\n'
        f'<img src="{up}static/images/logo-long.png"/>\n'
        '<a href="https://greatexpectations.io">Great Expectations</a>\n'
    )
    assert index == run_page.replace(up, "")


def test_vendored_assets_are_copied_once_and_replaced_when_changed(tmp_path):
    copy_vendored_assets(tmp_path)
    vendor = tmp_path / VENDOR_DIR
    jquery = vendor / "jquery-3.7.1" / "jquery.min.js"
    bootstrap = vendor / "bootstrap-4.3.1" / "bootstrap.min.css"
    assert jquery.read_bytes() == (ASSETS_DIR / "jquery-3.7.1" / "jquery.min.js").read_bytes()
    assert (vendor / "fontawesome-free-6.6.0" / "webfonts" / "fa-solid-900.woff2").is_file()

    bootstrap.write_text("/* damaged */")
    mtime = jquery.stat().st_mtime_ns - 10**9
    os.utime(jquery, ns=(mtime, mtime))
    copy_vendored_assets(tmp_path)

    assert jquery.stat().st_mtime_ns == mtime  # already there: left alone
    assert (
        bootstrap.read_bytes()
        == (ASSETS_DIR / "bootstrap-4.3.1" / "bootstrap.min.css").read_bytes()
    )
