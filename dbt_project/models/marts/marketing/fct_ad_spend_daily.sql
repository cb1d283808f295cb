{{
    config(
        materialized='incremental',
        unique_key=['spend_date', 'platform', 'campaign_id'],
        incremental_strategy=incremental_upsert_strategy(),
        on_schema_change='append_new_columns',
    )
}}

with spend as (
    select * from {{ ref('stg_marketing__ad_spend_daily') }}
    {{ incremental_partition_filter() }}
),

final as (
    select
        spend_date,
        platform,
        campaign_id,
        campaign_name,
        account_id,
        currency,
        spend,
        impressions,
        clicks,
        conversions,
        ds
    from spend
)

select * from final
