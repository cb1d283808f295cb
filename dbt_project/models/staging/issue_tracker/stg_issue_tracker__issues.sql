with source as (
    select * from {{ source('issue_tracker', 'issues') }}
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
        number,
        title,
        state,
        updated_at,
        comments,
        created_at,
        closed_at,
        labels,
        user as author,  -- the author as GitHub gives it (JSON)
        body,
        html_url,
        ds
    from latest
)

select * from renamed
