{#- One row per product review, with the labels the enrich DAG gave its text (none yet
    when the run's token budget left it for the next run: `is_labelled` false). -#}
with reviews as (
    select * from {{ ref('stg_shop_db__reviews') }}
),

labels as (
    select * from {{ ref('stg_enrichment__review_labels') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
),

final as (
    select
        cast(reviews.review_id as {{ dbt.type_string() }}) as review_id,
        cast(reviews.order_id as {{ dbt.type_string() }}) as order_id,
        cast(reviews.product_id as {{ dbt.type_string() }}) as product_id,
        orders.customer_key,
        cast(reviews.rating as {{ dbt.type_int() }}) as rating,
        reviews.title,
        reviews.body,
        {{ utc_timestamp('reviews.created_at') }} as reviewed_at,
        cast({{ utc_timestamp('reviews.created_at') }} as date) as review_date,
        labels.sentiment,
        labels.topics,
        labels.language,
        labels.labelled_by,
        labels.prompt_version,
        labels.review_id is not null as is_labelled
    from reviews
    left join labels
        on cast(reviews.review_id as {{ dbt.type_string() }})
        = cast(labels.review_id as {{ dbt.type_string() }})
    left join orders
        on cast(reviews.order_id as {{ dbt.type_string() }}) = orders.order_id
)

select * from final
