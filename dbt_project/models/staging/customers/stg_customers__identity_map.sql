with source as (
    select * from {{ source('customers', 'identity_map') }}
),

-- An identifier's latest linked row holds, else its latest: a link, once made, holds
-- and a later anonymous visit does not undo it.
latest as (
    select * from source
    qualify row_number() over (
        partition by id_type, id_value
        order by case when linked_via = 'none' then 0 else 1 end desc, ds desc
    ) = 1
),

renamed as (
    select
        id_type,
        id_value,
        customer_key,
        linked_via,
        ds as resolved_date
    from latest
)

select * from renamed
