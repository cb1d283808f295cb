with source as (
    select * from {{ source('sales', 'order_items') }}
),

-- The lines come again with each change of their order: the latest version holds.
latest as (
    select * from source
    qualify row_number() over (
        partition by order_item_id
        order by updated_at desc, ds desc
    ) = 1
),

renamed as (
    select
        order_item_id,
        order_id,
        product_id,
        quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(line_revenue as decimal(18, 2)) as line_revenue,
        order_date,
        updated_at,
        ds
    from latest
)

select * from renamed
