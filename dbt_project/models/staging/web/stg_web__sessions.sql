with source as (
    select * from {{ source('web', 'sessions') }}
),

-- A session active across midnight is in both days' partitions: the latest holds.
latest as (
    select * from source
    qualify row_number() over (
        partition by session_id
        order by ds desc
    ) = 1
),

renamed as (
    select
        session_id,
        user_pseudo_id,
        user_id,
        session_start as session_started_at,
        session_end as session_ended_at,
        session_date,
        duration_seconds,
        events,
        page_views,
        landing_page,
        utm_source,
        utm_medium,
        utm_campaign,
        channel,
        campaign_id,
        device,
        has_add_to_cart,
        has_begin_checkout,
        has_purchase,
        ds
    from latest
)

select * from renamed
