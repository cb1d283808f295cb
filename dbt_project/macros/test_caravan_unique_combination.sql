{#- A row per combination of `columns` (hub packages cannot be fetched, so our own). -#}
{% test caravan_unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_per_combination
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
