{#- Reviews per review date × product: how many, their mean rating, and how their texts
    were labelled. Shares are of the labelled reviews; `labelled_by` names every labeller
    of the group's reviews (a model's name or `offline`). -#}
with reviews as (
    select * from {{ ref('fct_reviews') }}
),

products as (
    select * from {{ ref('dim_products') }}
),

counted as (
    select
        review_date,
        product_id,
        cast(count(*) as {{ dbt.type_bigint() }}) as reviews,
        cast(avg(rating) as decimal(4, 2)) as avg_rating,
        cast(sum(case when sentiment = 'positive' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as positive_reviews,
        cast(sum(case when sentiment = 'neutral' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as neutral_reviews,
        cast(sum(case when sentiment = 'negative' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as negative_reviews,
        cast(sum(case when is_labelled then 0 else 1 end) as {{ dbt.type_bigint() }})
            as unlabelled_reviews,
        {{ sorted_distinct_list('labelled_by') }} as labelled_by
    from reviews
    group by review_date, product_id
),

final as (
    select
        counted.review_date,
        counted.product_id,
        products.product_name,
        products.category,
        counted.reviews,
        counted.avg_rating,
        counted.positive_reviews,
        counted.neutral_reviews,
        counted.negative_reviews,
        counted.unlabelled_reviews,
        cast(
            case
                when counted.reviews > counted.unlabelled_reviews
                    then
                        (counted.positive_reviews - counted.negative_reviews) * 1.0
                        / (counted.reviews - counted.unlabelled_reviews)
            end as decimal(9, 4)
        ) as net_sentiment,
        counted.labelled_by
    from counted
    left join products
        on counted.product_id = cast(products.product_id as {{ dbt.type_string() }})
)

select * from final
