{#- Incremental facts are keyed by the landing partition (`ds`) they come from.

    Run with `--vars '{ds: YYYY-MM-DD}'`, or with the environment variable CARAVAN_DS
    (how the warehouse DAG passes its run's ds: a var that changes from run to run makes
    dbt parse the whole project again, an environment variable only the files that read
    it), an incremental model reads only the rows whose latest version is in that
    partition and upserts them by the model's key: a rerun of a ds changes nothing, and
    a backfill of an older ds cannot overwrite a newer version (staging already keeps the
    latest). The var wins over the environment. Without either, or on a full refresh, it
    reads everything. -#}
{% macro incremental_partition_filter(column='ds') -%}
    {%- set ds = var('ds', env_var('CARAVAN_DS', '')) -%}
    {%- if is_incremental() and ds -%}
        where {{ column }} = cast('{{ ds }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- The upsert each adapter does natively: DuckDB deletes and inserts by key, Snowflake
    and BigQuery merge. -#}
{% macro incremental_upsert_strategy() -%}
    {{ return('delete+insert' if target.type == 'duckdb' else 'merge') }}
{%- endmacro %}
