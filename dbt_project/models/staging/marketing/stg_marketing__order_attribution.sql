with source as (
    select * from {{ source('marketing', 'order_attribution') }}
),

-- An order is attributed again each day the shop changes it: the latest day's rows
-- (all models, all touchpoints) hold, as a whole.
latest as (
    select * from source
    qualify ds = max(ds) over (partition by order_id)
),

renamed as (
    select
        order_id,
        attribution_model,
        coalesce(touchpoint, 0) as touchpoint,
        touchpoints,
        session_id,
        touch_at,
        channel,
        utm_source,
        utm_medium,
        coalesce(campaign_id, '(none)') as campaign_id,
        cast(weight as {{ dbt.type_float() }}) as weight,
        customer_key,
        order_date,
        placed_at,
        ds
    from latest
)

select * from renamed
