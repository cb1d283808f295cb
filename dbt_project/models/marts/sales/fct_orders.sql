{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy=incremental_upsert_strategy(),
        on_schema_change='append_new_columns',
    )
}}

with orders as (
    select * from {{ ref('stg_sales__orders') }}
),

-- A customer's first order among all orders, whichever partition is being loaded.
first_orders as (
    select
        customer_key,
        order_id as first_order_id
    from orders
    qualify row_number() over (
        partition by customer_key
        order by placed_at, order_id
    ) = 1
),

changed_orders as (
    select * from orders
    {{ incremental_partition_filter() }}
),

final as (
    select
        changed_orders.order_id,
        changed_orders.customer_key,
        changed_orders.customer_id,
        changed_orders.order_date,
        changed_orders.placed_at,
        changed_orders.status,
        changed_orders.currency,
        changed_orders.gross_revenue,
        changed_orders.discount_amount,
        changed_orders.net_revenue,
        changed_orders.units,
        changed_orders.region,
        changed_orders.utm_source,
        changed_orders.utm_medium,
        changed_orders.utm_campaign,
        changed_orders.status not in ('cancelled', 'refunded') as is_revenue,
        -- New customer: the customer's first order, placed the day they signed up.
        changed_orders.order_id = first_orders.first_order_id
        and changed_orders.order_date = cast(changed_orders.customer_created_at as date)
            as is_new_customer,
        changed_orders.ds
    from changed_orders
    left join first_orders
        on changed_orders.customer_key = first_orders.customer_key
)

select * from final
