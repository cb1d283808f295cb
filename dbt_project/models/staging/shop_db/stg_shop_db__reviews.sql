with source as (
    select * from {{ source('shop_db', 'reviews') }}
),

-- A key's latest day holds (a snapshot, or a day re-read, repeats it).
latest as (
    select * from source
    qualify row_number() over (
        partition by review_id
        order by ds desc
    ) = 1
),

renamed as (
    select
        review_id,
        order_id,
        product_id,
        customer_id,
        rating,
        body,
        updated_at,
        created_at,
        title,
        ds
    from latest
)

select * from renamed
