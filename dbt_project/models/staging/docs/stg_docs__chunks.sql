with source as (
    select * from {{ source('docs', 'chunks') }}
),

-- A key's latest day holds (a snapshot, or a day re-read, repeats it).
latest as (
    select * from source
    qualify row_number() over (
        partition by chunk_id
        order by ds desc
    ) = 1
),

renamed as (
    select
        chunk_id,
        path,
        anchor,
        heading,
        doc_kind,
        text,
        ds
    from latest
)

select * from renamed
