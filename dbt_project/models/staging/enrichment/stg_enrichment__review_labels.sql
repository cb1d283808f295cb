with source as (
    select * from {{ source('enrichment', 'review_labels') }}
),

-- A text labelled again (its text changed, or a later prompt version) appears in a later
-- partition: the latest labels hold.
latest as (
    select * from source
    qualify row_number() over (
        partition by review_id
        order by ds desc
    ) = 1
),

renamed as (
    select
        review_id,
        sentiment,
        topics,
        language,
        labelled_by,
        prompt_version,
        text_sha256,
        ds as labelled_ds
    from latest
)

select * from renamed
