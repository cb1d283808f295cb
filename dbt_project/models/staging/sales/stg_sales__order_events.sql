with source as (
    select * from {{ source('sales', 'order_events') }}
),

-- A fact is written on the first day it was reported; should a late copy arrive more
-- than a day later, that first day still holds.
first_reported as (
    select * from source
    qualify row_number() over (
        partition by order_id, event_type
        order by ds
    ) = 1
),

renamed as (
    select
        order_id,
        event_type,
        occurred_at,
        cast(amount as decimal(18, 2)) as amount,
        currency,
        customer_id,
        first_message_id,
        first_app,
        first_sent_at,
        messages,
        ds as first_reported_date
    from first_reported
)

select * from renamed
