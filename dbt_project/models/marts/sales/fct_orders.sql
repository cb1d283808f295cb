with orders as (
    select * from {{ ref('stg_sales__orders') }}
),

ranked as (
    select
        orders.*,
        row_number() over (
            partition by orders.customer_key
            order by orders.placed_at, orders.order_id
        ) as customer_order_number
    from orders
),

final as (
    select
        order_id,
        customer_key,
        customer_id,
        order_date,
        placed_at,
        status,
        currency,
        gross_revenue,
        discount_amount,
        net_revenue,
        units,
        region,
        utm_source,
        utm_medium,
        utm_campaign,
        status not in ('cancelled', 'refunded') as is_revenue,
        -- New customer: the customer signed up the day of this, their first order.
        customer_order_number = 1
        and order_date = cast(customer_created_at as date) as is_new_customer
    from ranked
)

select * from final
