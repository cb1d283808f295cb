with source as (
    select * from {{ source('sales', 'orders') }}
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
        currency,
        cast(gross_revenue as decimal(18, 2)) as gross_revenue,
        cast(discount_amount as decimal(18, 2)) as discount_amount,
        cast(net_revenue as decimal(18, 2)) as net_revenue,
        units,
        utm_source,
        utm_medium,
        utm_campaign,
        ds
    from source
)

select * from renamed
