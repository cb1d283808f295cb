{#- Last touch from the order's landing-page utm tags: a paid Google or Meta click
    names the platform's campaign; any other order counts as channel `direct`. -#}
with orders as (
    select * from {{ ref('fct_orders') }}
    where is_revenue
),

touches as (
    select
        order_id,
        order_date,
        net_revenue,
        is_new_customer,
        case
            when utm_campaign is null then 'direct'
            when utm_source = 'google' and utm_medium = 'cpc' then 'google_ads'
            when utm_source = 'facebook' and utm_medium = 'paid_social' then 'meta_ads'
            else 'direct'
        end as channel,
        utm_campaign
    from orders
),

final as (
    select
        order_id,
        order_date,
        channel,
        case when channel = 'direct' then '(none)' else utm_campaign end as campaign_id,
        'last_touch' as attribution_model,
        cast(1 as decimal(9, 6)) as weight,
        net_revenue as attributed_revenue,
        is_new_customer
    from touches
)

select * from final
