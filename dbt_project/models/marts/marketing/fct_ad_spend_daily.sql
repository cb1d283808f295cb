with spend as (
    select * from {{ ref('stg_marketing__ad_spend_daily') }}
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
        conversions
    from spend
)

select * from final
