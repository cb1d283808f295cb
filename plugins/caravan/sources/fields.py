"""Registry field types, and how a delivered value is read as one.

This is the one implementation of "is this value of its declared type, and what is it":
staging sends a record whose value does not parse to quarantine (`rejection_reason`), the
raw gate calls the same `FieldType.canonical` inside DuckDB (`register_duckdb`), and the
typed copy a `landing` entity loads into the warehouse is built from `FieldType.parse`.
So staging, the gate and the warehouse can never disagree about a value.

A type is declared as a name (`decimal`, `timestamp`), a decimal with its precision and
scale (`decimal(12,2)`), or a mapping for dates and timestamps in other formats:
`{type: timestamp, format: "%Y-%m-%d %H:%M:%S", tz: Europe/Berlin}`. Formats are `iso`
(the default), `yyyymmdd` (dates), `epoch_seconds`, `epoch_millis`, `epoch_micros`
(timestamps) or a strftime pattern. A timestamp without an offset is read in its `tz`
(default UTC); every timestamp is held in UTC.

Light to import: the registry parses types when DAG files are parsed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TYPE_NAMES = (
    "string",
    "integer",
    "number",
    "decimal",
    "boolean",
    "date",
    "timestamp",
    "epoch_micros",  # a timestamp in microseconds since 1970 (GA4's export)
    "object",
    "array",
)
DATE_FORMATS = ("iso", "yyyymmdd")
EPOCH_UNITS = {"epoch_seconds": 1_000_000, "epoch_millis": 1_000, "epoch_micros": 1}
TIMESTAMP_FORMATS = ("iso", *EPOCH_UNITS)
# DuckDB's and the warehouses' widest decimal; a bare `decimal` keeps 9 places.
MAX_PRECISION, DEFAULT_SCALE = 38, 9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL_SHORTHAND = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_INTEGER_TEXT = re.compile(r"-?\d+")
_DECIMAL_TEXT = re.compile(r"[+-]?\d+(\.\d+)?")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A date and a time of day (`T` or a space between), seconds and fraction optional, an
# offset optional. Python's fromisoformat alone takes more (`20160913`, week dates).
_ISO_TIMESTAMP = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(:\d{2})?)(?P<fraction>\.\d+)?"
    r"(?P<offset>Z|[+-]\d{2}(:?\d{2})?)?"
)


class TypeMismatch(ValueError):
    """A value that is not of its field's type; the message says what it should be."""


@dataclass(frozen=True)
class FieldType:
    name: str
    format: str = "iso"  # dates and timestamps
    tz: str = "UTC"  # timestamps: the zone of a value without an offset
    precision: int = MAX_PRECISION  # decimals
    scale: int = DEFAULT_SCALE
    exact: bool = False  # a declared decimal(p,s) refuses more places; a bare one rounds

    @property
    def kind(self) -> str:
        """What the value is once read: `epoch_micros` is a timestamp."""
        return "timestamp" if self.name == "epoch_micros" else self.name

    def describe(self) -> str:
        """The type as the registry would declare it, in messages and manifests."""
        if self.name == "decimal":
            return f"decimal({self.precision},{self.scale})" if self.exact else "decimal"
        details = [f for f in (self.format, self.tz) if f not in ("iso", "UTC")]
        if self.name == "epoch_micros":
            details = [f for f in details if f != "epoch_micros"]
        return f"{self.name} ({', '.join(details)})" if details else self.name

    def parse(self, value: Any) -> Any:
        """The value as Python holds its type (int, float, Decimal, bool, date, an aware UTC
        datetime, str, dict, list); raises TypeMismatch when it is not of the type."""
        if value is None:
            return None
        parsed = _PARSERS[self.kind](self, value)
        if parsed is None:
            raise TypeMismatch(f"not {_article(self.describe())} {self.describe()}")
        return parsed

    def canonical(self, value: Any) -> str | None:
        """The parsed value as text DuckDB casts to the type without loss (ISO dates, UTC
        timestamps, plain decimals), or None when null; raises TypeMismatch."""
        parsed = self.parse(value)
        if parsed is None:
            return None
        if isinstance(parsed, bool):
            return "true" if parsed else "false"
        if isinstance(parsed, datetime | date):
            return parsed.isoformat()
        if isinstance(parsed, Decimal):
            return format(parsed, "f")
        if isinstance(parsed, dict | list):
            return json.dumps(parsed, sort_keys=True)
        return str(parsed) if not isinstance(parsed, float) else repr(parsed)

    def sql_type(self) -> str:
        """The DuckDB type a canonical value is cast to."""
        return {
            "integer": "bigint",
            "number": "double",
            "decimal": f"decimal({self.precision}, {self.scale})",
            "boolean": "boolean",
            "date": "date",
            "timestamp": "timestamptz",
        }.get(self.kind, "varchar")

    def to_spec(self) -> str:
        """A JSON text that `from_spec` reads back (the DuckDB function's argument)."""
        return json.dumps([self.name, self.format, self.tz, self.precision, self.scale, self.exact])

    @staticmethod
    @lru_cache(maxsize=256)
    def from_spec(spec: str) -> FieldType:
        return FieldType(*json.loads(spec))


def field_type(declared: Any) -> FieldType:
    """A registry declaration as a FieldType; raises ValueError saying what is wrong."""
    if isinstance(declared, str):
        match = _DECIMAL_SHORTHAND.fullmatch(declared.strip())
        if match:
            return _decimal(int(match[1]), int(match[2]))
        if declared.strip() == "decimal":
            return FieldType("decimal")
        declared = {"type": declared}
    if not isinstance(declared, dict):
        raise ValueError(f"{declared!r} is not a type name or a mapping with 'type'")
    unknown = set(declared) - {"type", "format", "tz", "precision", "scale"}
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)} (type, format, tz, precision, scale)")
    name = declared.get("type")
    if name not in TYPE_NAMES:
        hint = ""
        if str(name).startswith("decimal("):  # YAML's `{a: decimal(8,2)}` splits at the comma
            hint = ' (in a {…} mapping, quote it: "decimal(8,2)")'
        raise ValueError(f"type {name!r} is not one of {TYPE_NAMES}{hint}")
    if name == "decimal":
        if not {"precision", "scale"} & set(declared):
            return FieldType("decimal")
        precision = declared.get("precision", MAX_PRECISION)
        return _decimal(precision, declared.get("scale", 0))
    if {"precision", "scale"} & set(declared):
        raise ValueError(f"precision and scale are for decimals, not {name}")
    fmt = str(declared.get("format", "epoch_micros" if name == "epoch_micros" else "iso"))
    tz = str(declared.get("tz", "UTC"))
    if name not in ("date", "timestamp", "epoch_micros") and {"format", "tz"} & set(declared):
        raise ValueError(f"format and tz are for dates and timestamps, not {name}")
    if name == "date" and fmt not in DATE_FORMATS and "%" not in fmt:
        raise ValueError(f"date format {fmt!r} is not one of {DATE_FORMATS} or a strftime pattern")
    if name == "timestamp" and fmt not in TIMESTAMP_FORMATS and "%" not in fmt:
        raise ValueError(
            f"timestamp format {fmt!r} is not one of {TIMESTAMP_FORMATS} or a strftime pattern"
        )
    if name == "date" and "tz" in declared:
        raise ValueError("a date has no time zone (tz is for timestamps)")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"tz {tz!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return FieldType(name, format=fmt, tz=tz)


def _decimal(precision: Any, scale: Any) -> FieldType:
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (precision, scale)):
        raise ValueError(f"decimal precision {precision!r} and scale {scale!r} must be integers")
    if not 1 <= precision <= MAX_PRECISION or not 0 <= scale <= precision:
        raise ValueError(
            f"decimal({precision},{scale}): precision 1..{MAX_PRECISION}, scale 0..precision"
        )
    return FieldType("decimal", precision=precision, scale=scale, exact=True)


def _article(text: str) -> str:
    return "an" if text[0] in "aeiou" else "a"


# Each parser returns the typed value, or None when the value is not of the type.


def _string(_: FieldType, value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _integer(ft: FieldType, value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    return None


def _number(_: FieldType, value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and not _NUMBER_TEXT.fullmatch(value):
        return None
    if not isinstance(value, int | float | str):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _decimal_value(ft: FieldType, value: Any) -> Decimal | None:
    """A declared decimal(p,s) is exact: a value with more places than its scale, or more
    digits than its precision, is refused, never rounded. A bare `decimal` rounds to 9
    places (a float's noise: 0.30000000000000004)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    quantum = Decimal(1).scaleb(-ft.scale)
    with localcontext() as context:
        context.prec = 2 * MAX_PRECISION  # room to see a value too wide, not an exception
        if ft.exact and number != number.quantize(quantum, rounding="ROUND_DOWN"):
            return None  # more decimal places than the scale
        number = number.quantize(quantum, rounding="ROUND_HALF_EVEN")
    if len(number.as_tuple().digits) > ft.precision and number != 0:
        return None  # more digits than the precision
    return number


def _boolean(_: FieldType, value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"  # CSV has no booleans but their words
    return None


def _date(ft: FieldType, value: Any) -> date | None:
    try:
        if ft.format == "yyyymmdd":
            text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
            if isinstance(text, str) and re.fullmatch(r"\d{8}", text):
                return datetime.strptime(text, "%Y%m%d").date()
            return None
        if not isinstance(value, str):
            return None
        if ft.format == "iso":
            return date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
        return datetime.strptime(value, ft.format).date()
    except ValueError:
        return None


def _timestamp(ft: FieldType, value: Any) -> datetime | None:
    if ft.format in EPOCH_UNITS:
        number = _integer(ft, value)
        if number is None or number < 0:
            return None
        return _EPOCH + timedelta(microseconds=number * EPOCH_UNITS[ft.format])
    if not isinstance(value, str):
        return None
    try:
        if ft.format == "iso":
            match = _ISO_TIMESTAMP.fullmatch(value)
            if not match:
                return None
            # Python reads at most six places of a second; the rest cannot be held.
            fraction = (match["fraction"] or "")[:7]
            offset = match["offset"] or ""
            parsed = datetime.fromisoformat(
                f"{match['day']}T{match['time']}{fraction}{'+00:00' if offset == 'Z' else offset}"
            )
        else:
            parsed = datetime.strptime(value, ft.format)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(ft.tz))
    return parsed.astimezone(UTC)


def _of_json_type(json_type: type):
    def parse(_: FieldType, value: Any) -> Any:
        return value if isinstance(value, json_type) else None

    return parse


_PARSERS = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "decimal": _decimal_value,
    "boolean": _boolean,
    "date": _date,
    "timestamp": _timestamp,
    "object": _of_json_type(dict),
    "array": _of_json_type(list),
}


def typed_json_value(json_text: str | None, spec: str) -> str | None:
    """For DuckDB: a field's JSON value (as `json_extract` gives it) read as its type,
    canonical; None when null, missing or not of the type."""
    if json_text is None:
        return None
    try:
        return FieldType.from_spec(spec).canonical(json.loads(json_text))
    except TypeMismatch:
        return None


def register_duckdb(con: Any) -> None:
    """Make `caravan_typed(json_value, spec)` callable in the connection's SQL."""
    con.create_function(
        "caravan_typed",
        typed_json_value,
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        null_handling="special",  # it returns null for a value not of the type
    )
