{#- The site's funnel per session date × channel: sessions, and how many of them
    added to cart, began checkout and purchased. Rates are shares of the sessions. -#}
with sessions as (
    select * from {{ ref('stg_web__sessions') }}
),

counted as (
    select
        session_date,
        channel,
        cast(count(*) as bigint) as sessions,
        cast(sum(case when has_add_to_cart then 1 else 0 end) as bigint) as add_to_carts,
        cast(sum(case when has_begin_checkout then 1 else 0 end) as bigint) as checkouts,
        cast(sum(case when has_purchase then 1 else 0 end) as bigint) as purchases
    from sessions
    group by session_date, channel
),

final as (
    select
        session_date,
        channel,
        sessions,
        add_to_carts,
        checkouts,
        purchases,
        cast(add_to_carts * 1.0 / sessions as decimal(9, 4)) as add_to_cart_rate,
        cast(checkouts * 1.0 / sessions as decimal(9, 4)) as checkout_rate,
        cast(purchases * 1.0 / sessions as decimal(9, 4)) as conversion_rate
    from counted
)

select * from final
