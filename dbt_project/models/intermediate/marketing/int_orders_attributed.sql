{#- Last touch from the order's landing-page utm tags: a paid Google click names
    the campaign; any other order counts as channel `direct`. -#}
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
            when utm_source = 'google' and utm_medium = 'cpc' and utm_campaign is not null
                then 'google_ads'
            else 'direct'
        end as channel,
        case
            when utm_source = 'google' and utm_medium = 'cpc' and utm_campaign is not null
                then utm_campaign
            else '(none)'
        end as campaign_id
    from orders
),

final as (
    select
        order_id,
        order_date,
        channel,
        campaign_id,
        'last_touch' as attribution_model,
        cast(1 as decimal(9, 6)) as weight,
        net_revenue as attributed_revenue,
        is_new_customer
    from touches
)

select * from final
