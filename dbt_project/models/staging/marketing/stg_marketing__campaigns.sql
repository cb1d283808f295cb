with source as (
    select * from {{ source('marketing', 'campaigns') }}
),

-- Each partition is the platforms' campaign list as of ds: the latest one holds.
latest as (
    select * from source
    qualify row_number() over (
        partition by platform, campaign_id
        order by ds desc
    ) = 1
),

renamed as (
    select
        platform,
        cast(campaign_id as {{ dbt.type_string() }}) as campaign_id,
        campaign_name,
        cast(account_id as {{ dbt.type_string() }}) as account_id,
        status,
        objective,
        created_at,
        ds
    from latest
)

select * from renamed
