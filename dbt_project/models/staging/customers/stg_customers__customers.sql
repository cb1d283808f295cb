with source as (
    select * from {{ source('customers', 'customers') }}
),

-- Each partition is the shop's customer list as of ds: a customer's latest version holds
-- (their history is kept by the `snap_customers` snapshot).
latest as (
    select * from source
    qualify row_number() over (
        partition by customer_id
        order by updated_at desc, ds desc
    ) = 1
),

renamed as (
    select
        customer_id,
        customer_key,
        region,
        created_at as signed_up_at,
        updated_at,
        ds
    from latest
)

select * from renamed
