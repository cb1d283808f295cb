with versions as (
    select * from {{ ref('snap_customers') }}
),

final as (
    select
        dbt_scd_id as customer_version_key,
        customer_id,
        customer_key,
        region,
        signed_up_at,
        dbt_valid_from as valid_from,
        dbt_valid_to as valid_to,
        dbt_valid_to is null as is_current
    from versions
)

select * from final
