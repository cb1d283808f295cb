{#- Portability between the targets (DuckDB, Snowflake, BigQuery), and the few places
    where the fakesnow server the Snowflake tests run on differs from Snowflake.

    A Snowflake reached over plain http is a fakesnow server: real Snowflake is https
    only (dbt_project/profiles.yml points `protocol` at http only for the tests). -#}
{% macro is_fakesnow() -%}
    {{ return(target.type == 'snowflake' and target.protocol == 'http') }}
{%- endmacro %}


{#- dbt's unit tests and incremental merges build scratch relations as temporary ones,
    named with database and schema. fakesnow keeps temporary objects in DuckDB's `temp`
    catalog and refuses that name ("TEMPORARY table names can *only* use the temp
    catalog"), so against it they are transient tables (as dbt-snowflake makes for other scratch
    relations), which dbt drops after use. On real
    Snowflake, dbt-snowflake's own macros run unchanged. -#}
{% macro snowflake__create_table_temporary_sql(relation, compiled_code) -%}
    {%- if is_fakesnow() -%}
        {{ snowflake__create_table_transient_sql(relation, compiled_code) }}
    {%- else -%}
        {{ dbt.snowflake__create_table_temporary_sql(relation, compiled_code) }}
    {%- endif -%}
{%- endmacro %}


{#- The same for the temporary view an incremental merge reads from: an ordinary view
    against fakesnow (the incremental materialization drops it after the merge). -#}
{% macro snowflake__create_view_as_with_temp_flag(relation, sql, is_temporary=False) -%}
    {{ dbt.snowflake__create_view_as_with_temp_flag(
        relation, sql, is_temporary and not is_fakesnow()
    ) }}
{%- endmacro %}


{#- dbt's merges (incremental models, the snapshot) insert `values (<columns>)`
    unqualified, which Snowflake reads as the source's columns; fakesnow rewrites a merge
    into a join of target and source, where those names are ambiguous. Against it, the
    values name the source's columns (`DBT_INTERNAL_SOURCE.<column>`, which means the same
    on Snowflake), and the merge runs without dbt-snowflake's explicit transaction (fakesnow
    fails a merge inside one: "a single transaction can only write to a single attached
    database"). -#}
{% macro snowflake__get_merge_sql(target, source_sql, unique_key, dest_columns, incremental_predicates) -%}
    {%- if not is_fakesnow() or unique_key is none -%}
        {{ return(dbt.snowflake__get_merge_sql(target, source_sql, unique_key, dest_columns, incremental_predicates)) }}
    {%- endif -%}
    {%- set merge = dbt.default__get_merge_sql(target, source_sql, unique_key, dest_columns, incremental_predicates) -%}
    {{ return(qualify_merge_values(merge, dest_columns | map(attribute='name') | list)) }}
{%- endmacro %}


{% macro snowflake__snapshot_merge_sql(target, source, insert_cols) -%}
    {%- if not is_fakesnow() -%}
        {{ return(dbt.snowflake__snapshot_merge_sql(target, source, insert_cols)) }}
    {%- endif -%}
    {%- set merge = dbt.default__snapshot_merge_sql(target, source, insert_cols) -%}
    {{ return(qualify_merge_values(merge, insert_cols, quoted=false)) }}
{%- endmacro %}


{#- The merge with its last list of `columns` (the `values` of its insert) qualified by
    the source's alias. -#}
{% macro qualify_merge_values(merge, columns, quoted=true) -%}
    {%- set names = get_quoted_csv(columns) if quoted else columns | join(', ') -%}
    {%- set qualified = [] -%}
    {%- for name in names.split(', ') -%}
        {%- do qualified.append('DBT_INTERNAL_SOURCE.' ~ name) -%}
    {%- endfor -%}
    {%- set head, found, tail = merge.rpartition(names) -%}
    {%- if not found -%}
        {{ exceptions.raise_compiler_error("no values list to qualify in: " ~ merge) }}
    {%- endif -%}
    {{ return(head ~ qualified | join(', ') ~ tail) }}
{%- endmacro %}
