{#- The lines of revenue orders with the order's net revenue split over them by their
    share of its gross revenue, to the cent: a category's net revenue is then its lines'
    and the categories add up to the orders. -#}
with orders as (
    select * from {{ ref('fct_orders') }}
    where is_revenue
),

items as (
    select * from {{ ref('stg_sales__order_items') }}
),

products as (
    select * from {{ ref('stg_sales__products') }}
),

lines as (
    select
        items.order_item_id,
        items.order_id,
        orders.order_date,
        orders.region,
        items.product_id,
        coalesce(products.category, 'unknown') as category,
        items.quantity,
        items.line_revenue,
        orders.net_revenue,
        case
            when orders.gross_revenue > 0
                then
                    cast(items.line_revenue as {{ dbt.type_float() }})
                    / cast(orders.gross_revenue as {{ dbt.type_float() }})
            else 1.0 / count(*) over (partition by items.order_id)
        end as revenue_share
    from items
    inner join orders
        on items.order_id = orders.order_id
    left join products
        on items.product_id = products.product_id
),

allocated as (
    {{ allocate_cents(
        relation='lines',
        amount='net_revenue',
        share='revenue_share',
        partition_by=['order_id'],
        order_by='order_item_id',
        as_name='line_net_revenue',
    ) }}
),

final as (
    select
        order_item_id,
        order_id,
        order_date,
        region,
        product_id,
        category,
        quantity,
        line_revenue as line_gross_revenue,
        line_net_revenue
    from allocated
)

select * from final
