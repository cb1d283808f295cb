{#- Split `amount` (money, 2 decimals) over the rows of each `partition_by` group in
    proportion to `share` (the group's shares sum to 1), to the cent, so that the parts
    add up to the amount exactly: each row gets the floor of its exact part in cents,
    and the cents left over go one each to the rows with the largest remainders (then
    by `order_by`). Rounding each part instead would lose or invent cents in sums.

    Selects every column of `relation` plus `<as_name>` (decimal(18, 2)). -#}
{% macro allocate_cents(relation, amount, share, partition_by, order_by, as_name) -%}
    {%- set group = partition_by | join(', ') -%}
    with exact_parts as (
        select
            {{ relation }}.*,
            {{ amount }} * 100 * {{ share }} as exact_cents,
            cast(round({{ amount }} * 100, 0) as bigint) as amount_cents
        from {{ relation }}
    ),

    floored_parts as (
        select
            exact_parts.*,
            cast(floor(exact_cents) as bigint) as floor_cents,
            exact_cents - floor(exact_cents) as remainder_cents
        from exact_parts
    ),

    ranked_parts as (
        select
            floored_parts.*,
            amount_cents - sum(floor_cents) over (partition by {{ group }}) as cents_left,
            row_number() over (
                partition by {{ group }}
                order by remainder_cents desc, {{ order_by }}
            ) as remainder_rank
        from floored_parts
    )

    select
        ranked_parts.*,
        cast(
            cast(
                floor_cents + case when remainder_rank <= cents_left then 1 else 0 end
                as decimal(18, 0)
            ) / 100 as decimal(18, 2)
        ) as {{ as_name }}
    from ranked_parts
{%- endmacro %}
