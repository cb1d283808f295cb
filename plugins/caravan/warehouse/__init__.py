"""The warehouse: curated partitions into `landing`, dbt into `marts`, published to `analytics`.

Which tables: `caravan.catalog` (every curated dataset is loaded; every mart of dbt's
manifest is gated and published).
"""
