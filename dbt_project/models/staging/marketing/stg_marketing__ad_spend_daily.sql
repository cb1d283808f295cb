with source as (
    select * from {{ source('marketing', 'ad_spend_daily') }}
),

renamed as (
    select
        spend_date,
        platform,
        account_id,
        campaign_id,
        campaign_name,
        currency,
        cast(spend as decimal(18, 2)) as spend,
        impressions,
        clicks,
        conversions,
        ds
    from source
)

select * from renamed
