"""Column expressions more than one job uses: timestamps, keys, utm tags, channels."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# The marketing channel of a visit or an order, from its utm tags (one place for the rule).
AD_PLATFORM_TAGS = {"google_ads": ("google", "cpc"), "meta_ads": ("facebook", "paid_social")}


def utc_timestamp(text_column: Column) -> Column:
    """An ISO timestamp as UTC wall-clock time (TIMESTAMP_NTZ); an offset, if any, is applied.

    The session time zone is UTC, so the cast to NTZ keeps UTC time.
    """
    return F.to_timestamp(text_column).cast("timestamp_ntz")


def micros_to_utc(micros_column: Column) -> Column:
    """Epoch microseconds (GA4's event_timestamp) as UTC wall-clock time."""
    return F.timestamp_micros(micros_column).cast("timestamp_ntz")


def utc_micros(timestamp_ntz_column: Column) -> Column:
    """A UTC wall-clock time back to epoch microseconds (the session time zone is UTC)."""
    return F.unix_micros(timestamp_ntz_column.cast("timestamp"))


def normalised_email(email_column: Column) -> Column:
    """Trimmed, lower case; null when empty."""
    email = F.lower(F.trim(email_column))
    return F.when(email == "", None).otherwise(email)


def hash_key(text_column: Column) -> Column:
    """The first 16 hex digits of SHA-256: short, stable, the same in every system."""
    return F.substring(F.sha2(text_column, 256), 1, 16)


def customer_key(email_column: Column) -> Column:
    """A stable key from the normalised email (the identity every system shares)."""
    return hash_key(normalised_email(email_column))


def utm_param(url_column: Column, name: str) -> Column:
    value = F.regexp_extract(url_column, rf"[?&]{name}=([^&#]*)", 1)
    return F.when(value == "", None).otherwise(value)


def url_path(url_column: Column) -> Column:
    """The path of a URL (scheme, host, query and fragment removed); "/" when empty."""
    path = F.regexp_extract(url_column, r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*)?([^?#]*)", 1)
    return F.when(path == "", "/").otherwise(path)


def channel(source_column: Column, medium_column: Column) -> Column:
    """google_ads, meta_ads, email (utm_medium email), direct (no utm_source) or other,
    the first rule that matches."""
    expression = None
    for name, (source, medium) in AD_PLATFORM_TAGS.items():
        matches = (source_column == source) & (medium_column == medium)
        expression = F.when(matches, name) if expression is None else expression.when(matches, name)
    return (
        expression.when(medium_column == "email", "email")
        .when(source_column.isNull(), "direct")
        .otherwise("other")
    )


def ad_campaign_id(channel_column: Column, campaign_column: Column) -> Column:
    """The utm campaign when the channel is an ad platform (its campaign id), else null."""
    return F.when(channel_column.isin(*AD_PLATFORM_TAGS), campaign_column)
