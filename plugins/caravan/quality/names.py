"""What a gate's Great Expectations objects are called, and where their Data Docs page is.

Plain strings, no GX import: `caravan quality` finds a result's page from its row in
`quality.validation_results` without paying for importing GX.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GxNames:
    """The names a gate's GX objects go by, so Data Docs and GX's stores say what was checked."""

    suite: str  # also the validation definition's and the checkpoint's name
    data_source: str
    asset: str
    meta: dict

    @classmethod
    def of(cls, stage: str, source: str, entity: str, ds: str) -> GxNames:
        return cls(
            suite=f"{stage}.{source}.{entity}",
            data_source=f"{stage}.{source}",
            # GX names the batch `<data source>-<asset>`: the partition's ds goes in the asset.
            asset=f"{entity}.ds={ds}",
            meta={"stage": stage, "source": source, "entity": entity},
        )

    @property
    def batch_identifier(self) -> str:
        return f"{self.data_source}-{self.asset}"


def page_relpath(suite: str, run_name: str, run_time: dt.datetime, batch_identifier: str) -> str:
    """A validation's page, relative to the site, as GX's site builder lays it out:
    `validations/<suite split on dots>/<run name>/<run time>/<batch id>.html`."""
    stamp = run_time.strftime("%Y%m%dT%H%M%S.%fZ")  # GX's RunIdentifier.to_tuple()
    return "/".join(["validations", *suite.split("."), run_name, stamp, f"{batch_identifier}.html"])


def gate_page(
    site_dir: Path,
    *,
    stage: str,
    source: str,
    entity: str,
    ds: str,
    run_id: str,
    validated_at: dt.datetime,
) -> Path:
    """The Data Docs page of one gate run: its GX run is named by `run_id` and timed at
    `validated_at` (UTC), as `quality.validation_results` records them."""
    names = GxNames.of(stage, source, entity, ds)
    return Path(site_dir) / page_relpath(names.suite, run_id, validated_at, names.batch_identifier)
