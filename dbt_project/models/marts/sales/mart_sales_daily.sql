{#- Sales per order date × product category × region, from revenue orders (neither
    cancelled nor refunded). Net revenue is each order's split over its lines to the
    cent, so the categories of a day add up to its orders' net revenue. -#}
with lines as (
    select * from {{ ref('int_order_items_revenued') }}
),

final as (
    select
        order_date,
        category,
        coalesce(region, 'unknown') as region,
        cast(count(distinct order_id) as bigint) as orders,
        cast(sum(quantity) as bigint) as units,
        cast(sum(line_gross_revenue) as decimal(18, 2)) as gross_revenue,
        cast(sum(line_net_revenue) as decimal(18, 2)) as net_revenue
    from lines
    group by order_date, category, coalesce(region, 'unknown')
)

select * from final
