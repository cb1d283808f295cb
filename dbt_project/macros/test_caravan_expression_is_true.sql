{#- Every row satisfies `expression` (a SQL boolean over the model's columns; on a column, `column_name` is that column). -#}
{% test caravan_expression_is_true(model, expression, where=none, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{%- if where %} and ({{ where }}){% endif %}
{% endtest %}
