{#- Reconciliation: the sum of `column` in the model, per `group_by` (if any), equals
    `total` summed over `compare_model` (filtered by `compare_where`), within
    `tolerance`. Returns the groups that differ, with both sums. -#}
{% test caravan_sums_match(model, column, compare_model, total, group_by=none, compare_where='1 = 1', tolerance=0) %}
with model_sums as (
    select
        {% if group_by %}{{ group_by }} as sum_group,{% else %}'all' as sum_group,{% endif %}
        sum({{ column }}) as model_sum
    from {{ model }}
    group by {% if group_by %}{{ group_by }}{% else %}1{% endif %}
),

compared as (
    select sum({{ total }}) as compare_sum
    from {{ compare_model }}
    where {{ compare_where }}
)

-- From `compared`, so that a model without rows fails too.
select model_sums.sum_group, model_sums.model_sum, compared.compare_sum
from compared
left join model_sums
    on 1 = 1
where abs(coalesce(model_sums.model_sum, 0) - coalesce(compared.compare_sum, 0)) > {{ tolerance }}
{% endtest %}
