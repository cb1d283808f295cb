{#- Revenue orders credited to their touchpoints under each attribution model: the
    order's net revenue split by weight to the cent (parts add up to the order exactly),
    and the order itself split by weight (attributed orders, new customers). -#}
with orders as (
    select * from {{ ref('fct_orders') }}
    where is_revenue
),

attribution as (
    select * from {{ ref('stg_marketing__order_attribution') }}
),

weighted as (
    select
        attribution.order_id,
        orders.order_date,
        attribution.attribution_model,
        attribution.touchpoint,
        attribution.session_id,
        attribution.channel,
        attribution.campaign_id,
        attribution.weight,
        orders.net_revenue,
        orders.is_new_customer
    from attribution
    inner join orders
        on attribution.order_id = orders.order_id
),

allocated as (
    {{ allocate_cents(
        relation='weighted',
        amount='net_revenue',
        share='weight',
        partition_by=['order_id', 'attribution_model'],
        order_by='touchpoint',
        as_name='attributed_revenue',
    ) }}
),

final as (
    select
        order_id,
        order_date,
        attribution_model,
        touchpoint,
        session_id,
        channel,
        campaign_id,
        weight,
        attributed_revenue,
        is_new_customer
    from allocated
)

select * from final
