with products as (
    select * from {{ ref('stg_sales__products') }}
),

final as (
    select
        product_id,
        sku,
        product_name,
        category,
        price,
        created_at,
        updated_at
    from products
)

select * from final
