{#- MetricFlow's daily time spine: one row per day, 2020 through 2030. A calendar, not a
    mart: it lives in the `semantic` schema, is not gated, and is not published to
    `analytics`; `caravan ask` reads it there (plugins/caravan/assistant/metrics.py).
    Plain SQL rather than dbt's date_spine, which queries the warehouse while compiling
    (so a compile without a connection, as for BigQuery offline, could not run it). -#}
with digits as (
    select 0 as digit
    union all
    select 1
    union all
    select 2
    union all
    select 3
    union all
    select 4
    union all
    select 5
    union all
    select 6
    union all
    select 7
    union all
    select 8
    union all
    select 9
),

day_numbers as (
    select
        ones.digit + 10 * tens.digit + 100 * hundreds.digit + 1000 * thousands.digit
            as day_number
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
),

final as (
    select
        cast({{ dbt.dateadd('day', 'day_number', "cast('2020-01-01' as date)") }} as date)
            as date_day
    from day_numbers
    where day_number < 4018  -- 2020-01-01 .. 2030-12-31
)

select * from final
