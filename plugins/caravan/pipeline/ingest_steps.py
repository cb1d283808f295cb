"""Tasks of the `ingest_<source>` DAGs."""

from __future__ import annotations

import logging

from caravan.dag_support import partition_ds
from caravan.lake import Lake
from caravan.settings import get_settings
from caravan.sources import ingest
from caravan.sources.registry import load_registry

log = logging.getLogger(__name__)


def _source(name: str):
    return load_registry(get_settings().dags_dir / "sources.yaml")[name]


def extract(source_name: str, entity_name: str, context: dict) -> dict:
    """Pull the run's window from the source (through its Airflow connection) into staging."""
    from airflow.sdk import Connection

    from caravan.sources.extract import deliveries

    ds = partition_ds(context)
    source = _source(source_name)
    entity = source.entities[entity_name]
    lake = Lake(get_settings().lake_url)
    delivered = deliveries(source, entity, Connection.get(source.conn_id), ds)
    staged = ingest.stage(lake, source_name, entity, ds, delivered)
    log.info(
        "%s/%s ds=%s: delivered %d, staged %d, quarantined %d",
        source_name,
        entity_name,
        ds,
        staged.delivered,
        staged.rows,
        staged.quarantined,
    )
    return staged.to_xcom()


def gate(staged_xcom: dict, context: dict) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from caravan.pipeline.gates import gate_batch  # GX is heavy: only gate tasks import it
    from caravan.quality import raw
    from caravan.quality.frames import jsonl_batch

    staged = ingest.Staged.from_xcom(staged_xcom)
    try:
        ingest.check_quarantine_rate(staged, _source(staged.source).quarantine_threshold)
    except ingest.QuarantineRateExceeded as exceeded:
        raise AirflowFailException(str(exceeded)) from exceeded
    source = _source(staged.source)
    lake = Lake(get_settings().lake_url)
    # The published week before ds, for the volume check (a rerun's own partition is not in it).
    prior_rows = raw.read_prior_rows(lake, staged.source, staged.entity, staged.ds)
    suite = raw.suite(source, source.entities[staged.entity], prior_rows)
    paths = [path for path, _ in staged.files]
    batch = jsonl_batch(lake, paths, suite.projection, rows=sum(rows for _, rows in staged.files))
    gate_batch(suite, batch, staged.ds, context["run_id"], context)
    return staged_xcom


def publish(staged_xcom: dict, context: dict) -> dict:
    staged = ingest.Staged.from_xcom(staged_xcom)
    manifest = ingest.publish(Lake(get_settings().lake_url), staged, context["run_id"])
    log.info(
        "published raw/%s/%s/ds=%s: %d rows, %d quarantined",
        manifest.source,
        manifest.entity,
        manifest.ds,
        manifest.rows,
        manifest.quarantined,
    )
    return {"entity": manifest.entity, "ds": manifest.ds, "rows": manifest.rows}


def announce(asset, manifests: list[dict], context: dict) -> None:
    ds = partition_ds(context)
    event = context["outlet_events"][asset]
    event.extra = {"ds": ds, "rows": {m["entity"]: m["rows"] for m in manifests}}
    event.add_partitions(ds)
