{#- Customer lifetime value per first-order cohort month: the net revenue of revenue
    orders a cohort's customers placed within 30, 90 and 365 days of their first order
    (day 0 is the first order's day), per customer. A window is final once every
    customer of the cohort has had all its days in the data (`as_of_date`, the latest
    order date loaded): until then the figure is a floor. -#}
with orders as (
    select * from {{ ref('fct_orders') }}
    where is_revenue
),

first_orders as (
    select
        customer_key,
        min(order_date) as first_order_date
    from orders
    group by customer_key
),

customer_orders as (
    select
        orders.customer_key,
        orders.order_id,
        orders.net_revenue,
        first_orders.first_order_date,
        {{ dbt.datediff('first_orders.first_order_date', 'orders.order_date', 'day') }}
            as days_since_first_order
    from orders
    inner join first_orders
        on orders.customer_key = first_orders.customer_key
),

as_of as (
    select max(order_date) as as_of_date from orders
),

cohorts as (
    select
        cast({{ dbt.date_trunc('month', 'first_order_date') }} as date) as cohort_month,
        count(distinct customer_key) as customers,
        count(*) as orders,
        sum(net_revenue) as revenue,
        sum(case when days_since_first_order < 30 then net_revenue else 0 end) as revenue_30d,
        sum(case when days_since_first_order < 90 then net_revenue else 0 end) as revenue_90d,
        sum(case when days_since_first_order < 365 then net_revenue else 0 end) as revenue_365d,
        max(first_order_date) as last_first_order_date
    from customer_orders
    group by cast({{ dbt.date_trunc('month', 'first_order_date') }} as date)
),

-- The days of data after the cohort's latest first order: its N-day window is final once
-- they reach N - 1 (day 0 is the first order's day).
cohorts_as_of as (
    select
        cohorts.*,
        as_of.as_of_date,
        {{ dbt.datediff('cohorts.last_first_order_date', 'as_of.as_of_date', 'day') }}
            as days_after_last_first_order
    from cohorts
    cross join as_of
),

final as (
    select
        cohort_month,
        cast(customers as bigint) as customers,
        cast(orders as bigint) as orders,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(revenue_30d / customers as decimal(18, 2)) as ltv_30d,
        cast(revenue_90d / customers as decimal(18, 2)) as ltv_90d,
        cast(revenue_365d / customers as decimal(18, 2)) as ltv_365d,
        days_after_last_first_order >= 29 as is_ltv_30d_final,
        days_after_last_first_order >= 89 as is_ltv_90d_final,
        days_after_last_first_order >= 364 as is_ltv_365d_final,
        as_of_date
    from cohorts_as_of
)

select * from final
