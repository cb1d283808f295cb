"""The warehouse: curated partitions into `landing`, dbt into `marts`, published to `analytics`."""
