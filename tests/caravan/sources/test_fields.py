"""Field types with their formats: what each reads a delivered value as, and that staging
and the raw gate's DuckDB read every value the same way (one parser for both)."""

from __future__ import annotations

import json

import duckdb
import pytest

from caravan.sources.fields import field_type, register_duckdb
from caravan.sources.ingest import rejection_reason
from caravan.sources.registry import EntitySpec

BERLIN = {"type": "timestamp", "format": "%Y-%m-%d %H:%M:%S", "tz": "Europe/Berlin"}
CHICAGO_ISO = {"type": "timestamp", "tz": "America/Chicago"}
# (declared, delivered JSON value, canonical text worked out by hand or None: refused)
CASES = [
    ("integer", "42", "42"),
    ("integer", -7, "-7"),
    ("integer", "12.5", None),
    ("integer", True, None),
    ("integer", " 4", None),
    ("number", "1e-7", "1e-07"),
    ("number", "+3", "3.0"),
    ("number", "1_000", None),  # Python's float() reads it; no CSV or API writes it
    ("number", "nan", None),
    ("decimal", "12.50", "12.500000000"),
    ("decimal", 0.1 + 0.2, "0.300000000"),  # a float's noise, rounded to 9 places
    ("decimal", "12,50", None),
    ("decimal(12,2)", "1234.5", "1234.50"),
    ("decimal(12,2)", 7, "7.00"),
    ("decimal(12,2)", "12.345", None),  # more places than the scale: refused, not rounded
    ("decimal(12,2)", "12345678901.5", None),  # 13 digits > precision 12
    ("decimal(4,0)", "-9999", "-9999"),
    ("boolean", "TRUE", "true"),  # CSV's words
    ("boolean", False, "false"),
    ("boolean", "yes", None),
    ("date", "2026-11-08", "2026-11-08"),
    ("date", "20261108", None),  # fromisoformat would read it; iso dates have dashes
    ("date", "2026-02-30", None),
    ({"type": "date", "format": "yyyymmdd"}, "20160913", "2016-09-13"),
    ({"type": "date", "format": "yyyymmdd"}, 20160913, "2016-09-13"),
    ({"type": "date", "format": "yyyymmdd"}, "2016-09-13", None),
    ({"type": "date", "format": "%d-%m-%Y"}, "31-08-2023", "2023-08-31"),
    ({"type": "date", "format": "%d-%m-%Y"}, "31/08/2023", None),
    ("timestamp", "2017-10-02 10:56:33", "2017-10-02T10:56:33+00:00"),
    ("timestamp", "2026-11-08T10:00:00.123456789Z", "2026-11-08T10:00:00.123456+00:00"),
    ("timestamp", "2026-11-08T10:00:00+01:00", "2026-11-08T09:00:00+00:00"),
    ("timestamp", "2026-11-08", None),  # a date is not a timestamp
    ("timestamp", "yesterday", None),
    (CHICAGO_ISO, "2026-07-01 12:00:00", "2026-07-01T17:00:00+00:00"),  # CDT is UTC-5
    (CHICAGO_ISO, "2026-07-01T12:00:00Z", "2026-07-01T12:00:00+00:00"),  # an offset wins
    (BERLIN, "2026-01-15 08:30:00", "2026-01-15T07:30:00+00:00"),  # CET is UTC+1
    (BERLIN, "2026-07-15 08:30:00", "2026-07-15T06:30:00+00:00"),  # CEST is UTC+2
    (BERLIN, "2026-07-15T08:30:00", None),
    (
        {"type": "timestamp", "format": "epoch_millis"},
        1700000000123,
        "2023-11-14T22:13:20.123000+00:00",
    ),
    ({"type": "timestamp", "format": "epoch_seconds"}, "86400", "1970-01-02T00:00:00+00:00"),
    ({"type": "timestamp", "format": "epoch_seconds"}, -1, None),
    ("epoch_micros", "1793491200000000", "2026-11-01T00:00:00+00:00"),  # 20758 days
    ("string", "x", "x"),
    ("string", 7, None),
    ("array", [], "[]"),
    ("object", [], None),
]


def _id(case) -> str:
    declared, value, _ = case
    return f"{json.dumps(declared)}:{json.dumps(value)}"


@pytest.fixture(scope="module")
def gate_sql():
    """The raw gate's reading of a value: `caravan_typed` in DuckDB, as frames.py has it."""
    con = duckdb.connect()
    register_duckdb(con)

    def read(value, declared) -> str | None:
        record = json.dumps({"v": value})
        return con.execute(
            "select caravan_typed(json_extract(?::json, '$.v'), ?)",
            [record, declared.to_spec()],
        ).fetchone()[0]

    yield read
    con.close()


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_staging_and_the_gate_read_each_value_alike(case, gate_sql):
    declared, value, expected = case
    ftype = field_type(declared)
    entity = EntitySpec(name="rows", primary_key=(), required=(), window="snapshot")
    entity = EntitySpec(**{**entity.__dict__, "types": {"v": ftype}})
    reason = rejection_reason({"v": value}, entity)

    assert gate_sql(value, ftype) == expected
    if expected is None:
        assert reason is not None and reason.startswith("field 'v' is ")
        assert reason.endswith(
            f"not {'an' if ftype.describe()[0] in 'aeiou' else 'a'} {ftype.describe()}"
        )
    else:
        assert reason is None


def test_the_gate_casts_canonical_text_to_the_warehouse_type_without_loss():
    con = duckdb.connect()
    decimal = field_type("decimal(12,2)")
    assert con.execute(f"select cast('1234.50' as {decimal.sql_type()})").fetchone()[0] == (
        __import__("decimal").Decimal("1234.50")
    )
    con.execute("set TimeZone = 'UTC'")
    stamp = con.execute("select cast('2026-07-01T17:00:00+00:00' as timestamptz)").fetchone()[0]
    assert stamp.isoformat() == "2026-07-01T17:00:00+00:00"


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("decimal(40,2)", "precision 1..38"),
        ("decimal(4,5)", "scale 0..precision"),
        ({"type": "date", "format": "dd.mm.yyyy"}, "is not one of ('iso', 'yyyymmdd')"),
        ({"type": "date", "tz": "UTC"}, "a date has no time zone"),
        ({"type": "timestamp", "tz": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"type": "integer", "format": "%d"}, "format and tz are for dates and timestamps"),
        ({"type": "string", "precision": 3}, "precision and scale are for decimals"),
        ({"type": "timestamp", "fmt": "iso"}, "unknown key(s) ['fmt']"),
        ("money", "type 'money' is not one of"),
        ({"type": "decimal(8"}, 'quote it: "decimal(8,2)"'),
    ],
)
def test_a_declaration_that_cannot_work_says_why(declared, message):
    with pytest.raises(ValueError, match=None) as refused:
        field_type(declared)
    assert message in str(refused.value)


def test_a_type_is_described_as_it_was_declared():
    assert field_type("decimal(12,2)").describe() == "decimal(12,2)"
    assert field_type("decimal").describe() == "decimal"
    assert field_type(BERLIN).describe() == "timestamp (%Y-%m-%d %H:%M:%S, Europe/Berlin)"
    assert field_type({"type": "date", "format": "yyyymmdd"}).describe() == "date (yyyymmdd)"
    assert field_type("epoch_micros").describe() == "epoch_micros"
