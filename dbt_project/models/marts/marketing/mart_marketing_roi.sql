{#- Spend and attributed revenue per date × channel × campaign × attribution model.
    Spend is repeated under every model, so each model reads as a whole report; revenue
    is dated by the order, spend by the day it was spent. -#}
with spend as (
    select
        spend_date as report_date,
        platform as channel,
        campaign_id,
        sum(spend) as spend
    from {{ ref('fct_ad_spend_daily') }}
    group by spend_date, platform, campaign_id
),

attribution_models as (
    {% for model in var('attribution_models') %}
        select '{{ model }}' as attribution_model
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

spend_per_model as (
    select
        spend.report_date,
        spend.channel,
        spend.campaign_id,
        attribution_models.attribution_model,
        spend.spend
    from spend
    cross join attribution_models
),

attributed as (
    select
        order_date as report_date,
        channel,
        campaign_id,
        attribution_model,
        sum(attributed_revenue) as attributed_revenue,
        sum(weight) as attributed_orders,
        sum(case when is_new_customer then weight else 0 end) as new_customers
    from {{ ref('int_orders_attributed') }}
    group by order_date, channel, campaign_id, attribution_model
),

joined as (
    select
        coalesce(spend_per_model.report_date, attributed.report_date) as report_date,
        coalesce(spend_per_model.channel, attributed.channel) as channel,
        coalesce(spend_per_model.campaign_id, attributed.campaign_id) as campaign_id,
        coalesce(spend_per_model.attribution_model, attributed.attribution_model)
            as attribution_model,
        coalesce(spend_per_model.spend, 0) as spend,
        coalesce(attributed.attributed_revenue, 0) as attributed_revenue,
        coalesce(attributed.attributed_orders, 0) as attributed_orders,
        coalesce(attributed.new_customers, 0) as new_customers
    from spend_per_model
    full outer join attributed
        on spend_per_model.report_date = attributed.report_date
        and spend_per_model.channel = attributed.channel
        and spend_per_model.campaign_id = attributed.campaign_id
        and spend_per_model.attribution_model = attributed.attribution_model
),

final as (
    select
        report_date,
        channel,
        campaign_id,
        attribution_model,
        cast(spend as decimal(18, 2)) as spend,
        cast(attributed_revenue as decimal(18, 2)) as attributed_revenue,
        cast(attributed_orders as decimal(18, 4)) as attributed_orders,
        cast(attributed_revenue / nullif(spend, 0) as decimal(18, 4)) as roas,
        cast(spend / nullif(attributed_orders, 0) as decimal(18, 2)) as cpa,
        cast(new_customers as decimal(18, 4)) as new_customers,
        cast(spend / nullif(new_customers, 0) as decimal(18, 2)) as cac
    from joined
)

select * from final
