with source as (
    select * from {{ source('sales', 'orders') }}
),

-- A partition holds the orders the shop changed that day, so an order delivered or
-- refunded later appears again: its latest version holds.
latest as (
    select * from source
    qualify row_number() over (
        partition by order_id
        order by updated_at desc, ds desc
    ) = 1
),

renamed as (
    select
        order_id,
        customer_id,
        customer_key,
        region,
        customer_created_at,
        placed_at,
        order_date,
        status,
        updated_at,
        currency,
        cast(gross_revenue as decimal(18, 2)) as gross_revenue,
        cast(discount_amount as decimal(18, 2)) as discount_amount,
        cast(net_revenue as decimal(18, 2)) as net_revenue,
        units,
        utm_source,
        utm_medium,
        utm_campaign,
        ds
    from latest
)

select * from renamed
