with campaigns as (
    select * from {{ ref('stg_marketing__campaigns') }}
),

-- Campaigns that spent but are missing from the platforms' lists (removed since) still
-- get a row, so every spend row has its campaign.
spent as (
    select
        platform,
        campaign_id,
        max(campaign_name) as campaign_name,
        max(account_id) as account_id,
        min(spend_date) as first_spend_date,
        max(spend_date) as last_spend_date
    from {{ ref('stg_marketing__ad_spend_daily') }}
    group by platform, campaign_id
),

final as (
    select
        coalesce(campaigns.platform, spent.platform) as platform,
        coalesce(campaigns.campaign_id, spent.campaign_id) as campaign_id,
        coalesce(campaigns.campaign_name, spent.campaign_name) as campaign_name,
        coalesce(campaigns.account_id, spent.account_id) as account_id,
        coalesce(campaigns.status, 'unknown') as status,
        campaigns.objective,
        campaigns.created_at,
        spent.first_spend_date,
        spent.last_spend_date
    from campaigns
    full outer join spent
        on campaigns.platform = spent.platform
        and campaigns.campaign_id = spent.campaign_id
)

select * from final
