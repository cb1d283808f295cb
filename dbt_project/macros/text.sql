{#- Helpers for the text marts (reviews, issues) that differ between the targets. -#}

{#- The Monday that starts the ISO week of a date (BigQuery's `week` starts on Sunday). -#}
{% macro week_start(column) -%}
    {{ return(adapter.dispatch('week_start')(column)) }}
{%- endmacro %}

{% macro default__week_start(column) -%}
    cast({{ dbt.date_trunc('week', column) }} as date)
{%- endmacro %}

{% macro bigquery__week_start(column) -%}
    date_trunc(cast({{ column }} as date), isoweek)
{%- endmacro %}

{#- One row per (key, label name) of a JSON-text array of GitHub-shaped labels
    (`[{"name": "tracking", ...}, ...]`) in `relation`'s `column`. -#}
{% macro label_rows(relation, key, column) -%}
    {{ return(adapter.dispatch('label_rows')(relation, key, column)) }}
{%- endmacro %}

{% macro default__label_rows(relation, key, column) -%}
    select
        issue_rows.{{ key }},
        json_extract_string(label_items.value, '$.name') as label
    from {{ relation }} as issue_rows,
        json_each(issue_rows.{{ column }}) as label_items
{%- endmacro %}

{% macro snowflake__label_rows(relation, key, column) -%}
    select
        issue_rows.{{ key }},
        label_items.value:name::varchar as label
    from {{ relation }} as issue_rows,
        lateral flatten(input => parse_json(issue_rows.{{ column }})) as label_items
{%- endmacro %}

{% macro bigquery__label_rows(relation, key, column) -%}
    select
        issue_rows.{{ key }},
        json_value(label_items, '$.name') as label
    from {{ relation }} as issue_rows
    cross join unnest(json_query_array(issue_rows.{{ column }})) as label_items
{%- endmacro %}

{#- The distinct values of `column` over a group, sorted, joined by ', '. -#}
{% macro sorted_distinct_list(column) -%}
    {{ return(adapter.dispatch('sorted_distinct_list')(column)) }}
{%- endmacro %}

{% macro default__sorted_distinct_list(column) -%}
    string_agg(distinct {{ column }}, ', ' order by {{ column }})
{%- endmacro %}

{% macro snowflake__sorted_distinct_list(column) -%}
    listagg(distinct {{ column }}, ', ') within group (order by {{ column }})
{%- endmacro %}

{% macro bigquery__sorted_distinct_list(column) -%}
    string_agg(distinct {{ column }}, ', ' order by {{ column }})
{%- endmacro %}

{#- A typed copy's timestamp (an instant: TIMESTAMP WITH TIME ZONE where the target has
    one) as the marts' plain UTC timestamp, whatever the session's time zone. -#}
{% macro utc_timestamp(column) -%}
    {{ return(adapter.dispatch('utc_timestamp')(column)) }}
{%- endmacro %}

{% macro default__utc_timestamp(column) -%}
    timezone('UTC', {{ column }})
{%- endmacro %}

{% macro snowflake__utc_timestamp(column) -%}
    convert_timezone('UTC', {{ column }})::timestamp_ntz
{%- endmacro %}

{% macro bigquery__utc_timestamp(column) -%}
    {{ column }}
{%- endmacro %}
