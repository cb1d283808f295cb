with source as (
    select * from {{ source('marketing', 'ad_spend_daily') }}
),

-- Ad platforms restate their last days, and each run re-reads its lookback, so one
-- date × platform × campaign can sit in several partitions: the latest one holds.
latest as (
    select * from source
    qualify row_number() over (
        partition by spend_date, platform, campaign_id
        order by ds desc
    ) = 1
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
    from latest
)

select * from renamed
