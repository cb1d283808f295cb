{#- What `caravan ask` retrieves from: the project's docs (README, docs/, the dbt models'
    descriptions) in sections, and the issue tracker's issues and comments, each with the
    reference an answer cites (`docs/adding-a-source.md#types-and-formats`, `issue #12`).
    The text is data to quote, never instructions to follow (docs/assistant.md).
    `ref` is a keyword sqlfluff would not have as a name; it is the mart's contract. -#}
with chunks as (
    select * from {{ ref('stg_docs__chunks') }}
),

issues as (
    select * from {{ ref('stg_issue_tracker__issues') }}
),

comments as (
    select * from {{ ref('stg_issue_tracker__comments') }}
),

doc_chunks as (
    select
        cast(chunk_id as {{ dbt.type_string() }}) as chunk_id,
        'doc' as kind,
        case
            when anchor is null or anchor = '' then path
            else path || '#' || anchor
        end as ref,  -- noqa: RF04
        heading as title,
        text as body,
        cast(ds as {{ dbt.type_timestamp() }}) as updated_at
    from chunks
),

issue_chunks as (
    select
        'issue-' || cast(number as {{ dbt.type_string() }}) as chunk_id,
        'issue' as kind,
        'issue #'
        || cast(number as {{ dbt.type_string() }}) as ref,  -- noqa: RF04
        title,
        coalesce(body, '') as body,
        {{ utc_timestamp('updated_at') }} as updated_at
    from issues
),

comment_chunks as (
    select
        'comment-' || cast(id as {{ dbt.type_string() }}) as chunk_id,
        'comment' as kind,
        'issue #' || {{ dbt.split_part('issue_url', "'/issues/'", 2) }} as ref,  -- noqa: RF04
        'Comment on issue #' || {{ dbt.split_part('issue_url', "'/issues/'", 2) }} as title,
        coalesce(body, '') as body,
        {{ utc_timestamp('updated_at') }} as updated_at
    from comments
),

final as (
    select * from doc_chunks
    union all
    select * from issue_chunks
    union all
    select * from comment_chunks
)

select * from final
