with source as (
    select * from {{ source('sales', 'products') }}
),

-- Each partition is the catalogue as of ds: a product's latest version holds.
latest as (
    select * from source
    qualify row_number() over (
        partition by product_id
        order by updated_at desc, ds desc
    ) = 1
),

renamed as (
    select
        product_id,
        sku,
        product_name,
        category,
        cast(price as decimal(18, 2)) as price,
        created_at,
        updated_at,
        ds
    from latest
)

select * from renamed
