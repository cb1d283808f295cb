with source as (
    select * from {{ source('issue_tracker', 'comments') }}
),

-- A key's latest day holds (a snapshot, or a day re-read, repeats it).
latest as (
    select * from source
    qualify row_number() over (
        partition by id
        order by ds desc
    ) = 1
),

renamed as (
    select
        id,
        issue_url,
        body,
        updated_at,
        created_at,
        user as author,  -- the author as GitHub gives it (JSON)
        html_url,
        ds
    from latest
)

select * from renamed
