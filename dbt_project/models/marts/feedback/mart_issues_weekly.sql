{#- The issue tracker per ISO week (Monday) × label: issues opened and closed, comments
    written, and the sentiment of the week's new issues as labelled. An issue with several
    labels counts under each; one without any under `unlabelled`. -#}
with issues as (
    select * from {{ ref('stg_issue_tracker__issues') }}
),

comments as (
    select * from {{ ref('stg_issue_tracker__comments') }}
),

labels as (
    select * from {{ ref('stg_enrichment__issue_labels') }}
),

issue_label_rows as (
    {{ label_rows(ref('stg_issue_tracker__issues'), 'number', 'labels') }}
),

issue_labels as (
    select
        issues.number as issue_number,
        coalesce(issue_label_rows.label, 'unlabelled') as label,  -- noqa: RF04
        {{ utc_timestamp('issues.created_at') }} as created_at,
        {{ utc_timestamp('issues.closed_at') }} as closed_at
    from issues
    left join issue_label_rows
        on issues.number = issue_label_rows.number
),

comment_counts as (
    select
        cast({{ dbt.split_part('issue_url', "'/issues/'", 2) }} as {{ dbt.type_bigint() }})
            as issue_number,
        {{ week_start(utc_timestamp('created_at')) }} as week_start,
        cast(count(*) as {{ dbt.type_bigint() }}) as comments  -- noqa: RF04
    from comments
    group by 1, 2
),

opened as (
    select
        {{ week_start('issue_labels.created_at') }} as week_start,
        issue_labels.label,
        cast(count(*) as {{ dbt.type_bigint() }}) as issues_opened,
        cast(
            sum(
                case when labels.sentiment = 'positive' then 1 else 0 end
            ) as {{ dbt.type_bigint() }}
        )
            as positive_issues,
        cast(
            sum(case when labels.sentiment = 'neutral' then 1 else 0 end) as {{ dbt.type_bigint() }}
        )
            as neutral_issues,
        cast(
            sum(
                case when labels.sentiment = 'negative' then 1 else 0 end
            ) as {{ dbt.type_bigint() }}
        )
            as negative_issues,
        cast(
            sum(case when labels.issue_number is null then 1 else 0 end) as {{ dbt.type_bigint() }}
        )
            as unlabelled_issues,
        {{ sorted_distinct_list('labels.labelled_by') }} as labelled_by
    from issue_labels
    left join labels
        on cast(issue_labels.issue_number as {{ dbt.type_bigint() }})
        = cast(labels.issue_number as {{ dbt.type_bigint() }})
    group by 1, 2
),

closed as (
    select
        {{ week_start('closed_at') }} as week_start,
        label,
        cast(count(*) as {{ dbt.type_bigint() }}) as issues_closed
    from issue_labels
    where closed_at is not null
    group by 1, 2
),

commented as (
    select
        comment_counts.week_start,
        issue_labels.label,
        cast(sum(comment_counts.comments) as {{ dbt.type_bigint() }}) as comments  -- noqa: RF04
    from comment_counts
    inner join issue_labels
        on comment_counts.issue_number = cast(issue_labels.issue_number as {{ dbt.type_bigint() }})
    group by 1, 2
),

weeks as (
    select distinct
        week_start,
        label
    from (
        select
            week_start,
            label
        from opened
        union all
        select
            week_start,
            label
        from closed
        union all
        select
            week_start,
            label
        from commented
    ) as every_week
),

final as (
    select
        weeks.week_start,
        weeks.label,
        coalesce(opened.issues_opened, 0) as issues_opened,
        coalesce(closed.issues_closed, 0) as issues_closed,
        coalesce(commented.comments, 0) as comments,  -- noqa: RF04
        coalesce(opened.positive_issues, 0) as positive_issues,
        coalesce(opened.neutral_issues, 0) as neutral_issues,
        coalesce(opened.negative_issues, 0) as negative_issues,
        coalesce(opened.unlabelled_issues, 0) as unlabelled_issues,
        opened.labelled_by
    from weeks
    left join opened
        on weeks.week_start = opened.week_start and weeks.label = opened.label
    left join closed
        on weeks.week_start = closed.week_start and weeks.label = closed.label
    left join commented
        on weeks.week_start = commented.week_start and weeks.label = commented.label
)

select * from final
