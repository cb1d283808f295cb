"""The one gate for SQL that a person or a language model hands Caravan to run.

`read_only=True` alone stops writes to the warehouse file, not `COPY … TO` a file,
`read_csv('/etc/passwd')`, `ATTACH … (READ_WRITE)` of another database, `INSTALL`, or a
second statement. Two independent walls stop those, so a gap in one is not a hole:

1. `check_query` parses the text with sqlglot (DuckDB dialect) and accepts exactly one
   read (a query, DESCRIBE, SHOW, SUMMARIZE) that names no file, calls no function that
   reads files, the network, DuckDB's settings or SQL held in a string, and writes
   nothing. What cannot be parsed is refused. The statement that runs is the one
   regenerated from the tree that was checked, so DuckDB never sees text the check
   read differently (a comment or string sqlglot tokenised otherwise).
2. `connect_read_only` opens the warehouse read-only with external access and extension
   autoloading off and the configuration locked: a file read, ATTACH, INSTALL/LOAD or
   SET that the parse check let through fails in DuckDB itself. `run_query` also asks
   DuckDB's own parser that it sees one SELECT.

EXPLAIN is refused: sqlglot does not parse it (it becomes an opaque command whose
inner query could not be checked), and EXPLAIN ANALYZE runs the query.

`run_assistant_query` is the same gate narrowed for SQL a language model writes (the
assistant's fallback and the metric path): on top of the above, exactly one SELECT (no
DESCRIBE, SHOW, SUMMARIZE), every table one of the `analytics` schema's (or one the caller
names, such as the tables MetricFlow's SQL reads), no table function, no function that
reveals the system (version(), current_user, duckdb_*, pg_*, getvariable, ...), a LIMIT
injected or lowered to a maximum, and a timeout that interrupts DuckDB. The tables are
checked twice: on sqlglot's scopes (so a CTE's name is not mistaken for a table) and on
the names DuckDB's own parser reports.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

if TYPE_CHECKING:
    import duckdb

# Applied when the connection opens; `lock_configuration` last, so nothing the query
# says (SET, RESET, PRAGMA) can turn the others back on.
HARDENED_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}

# Table functions that read files or the network (DuckDB core, its parquet and json
# extensions, and the extensions that scan other systems), wherever they appear.
_FILE_FUNCTIONS = frozenset(
    {
        "glob",
        "sniff_csv",
        "st_read",
        "st_read_meta",
        "sqlite_attach",
        "sqlite_query",
        "postgres_attach",
        "postgres_query",
        "postgres_execute",
        "mysql_query",
        "mysql_execute",
        "python_map_function",
    }
)
_FILE_PREFIXES = ("read_", "parquet_", "iceberg_", "delta_", "ducklake_")
_FILE_SUFFIXES = ("_scan",)  # parquet_scan, arrow_scan, pandas_scan, sqlite_scan, ...
# Functions that run SQL handed to them as a string, which this check cannot see into.
_SQL_STRING_FUNCTIONS = frozenset(
    {"query", "query_table", "json_execute_serialized_sql", "from_substrait", "from_substrait_json"}
)
# Functions and views that read or change DuckDB's settings, secrets, logs, profiling,
# or the host's environment and file paths.
_SYSTEM_FUNCTIONS = frozenset(
    {
        "current_setting",
        "getenv",
        "duckdb_settings",
        "pg_settings",
        "duckdb_secrets",
        "duckdb_secret_types",
        "which_secret",
        "duckdb_extensions",
        "duckdb_databases",
        "duckdb_temporary_files",
        "duckdb_external_file_cache",
        "duckdb_memory",
        "duckdb_prepared_statements",
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "write_log",
        "enable_profiling",
        "disable_profiling",
        "checkpoint",
        "force_checkpoint",
    }
)
_SYSTEM_PREFIXES = ("pragma_", "duckdb_log")
# A table name with one of these is a path, a URL or a glob: DuckDB's replacement scan
# would read it as a file (`from '/etc/passwd'`, `from "orders.csv"`).
_PATH_CHARACTERS = frozenset("/\\:.*?[]{}~")

# Statements that are not reads, with why each is refused.
_REFUSED_STATEMENTS: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Copy, "COPY writes or reads files"),
    (exp.Attach, "ATTACH opens another database"),
    (exp.Detach, "DETACH closes a database"),
    (exp.Install, "INSTALL downloads an extension"),
    (exp.Pragma, "PRAGMA reads or changes DuckDB's settings"),
    (exp.Set, "SET changes a setting"),
    (exp.Use, "USE switches the database"),
    (exp.Into, "SELECT … INTO creates a table"),
    (exp.Transaction, "a transaction statement is not a read"),
    (exp.Commit, "a transaction statement is not a read"),
    (exp.Rollback, "a transaction statement is not a read"),
)
_WRITE_STATEMENTS = (
    exp.DDL,
    exp.DML,
    exp.Create,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Drop,
    exp.Alter,
    exp.Merge,
    exp.TruncateTable,
)
_REFUSED_COMMANDS = {
    "LOAD": "LOAD loads an extension",
    "RESET": "RESET changes a setting",
    "CALL": "CALL runs a function this check cannot see into",
    "EXPLAIN": "EXPLAIN is not parsed, so its query cannot be checked (EXPLAIN ANALYZE runs it)",
    "EXPORT": "EXPORT DATABASE writes files",
    "IMPORT": "IMPORT DATABASE reads files and writes the warehouse",
    "VACUUM": "VACUUM maintains the database file",
    "CHECKPOINT": "CHECKPOINT writes the database file",
}
# Besides queries (SELECT, WITH … SELECT, UNION/INTERSECT/EXCEPT, a parenthesised query):
# DuckDB runs these as SELECTs over the catalogue or a table, and they write nothing.
_READ_STATEMENTS = (exp.Describe, exp.Show, exp.Summarize)

_ALLOWED = "only a single read of the warehouse is allowed"
_COMMAND_FALLBACK = "Falling back to parsing as a 'Command'"

# The assistant's narrower gate.
ASSISTANT_SCHEMA = "analytics"
ASSISTANT_MAX_ROWS = 200
ASSISTANT_TIMEOUT_SECONDS = 10.0
_ASSISTANT_ALLOWED = "only a single SELECT over the analytics schema's tables is allowed"
# Functions (and bare keywords) that say something about the system rather than the data.
_ASSISTANT_SYSTEM_FUNCTIONS = frozenset(
    {
        "version",
        "current_database",
        "current_catalog",
        "current_schema",
        "current_schemas",
        "current_user",
        "current_role",
        "current_query",
        "session_user",
        "user",
        "getvariable",
        "txid_current",
        "nextval",
        "currval",
        "setseed",
        "col_description",
        "obj_description",
        "shobj_description",
        "format_pg_type",
        "format_type",
        "sql_auto_complete",
        "error",
    }
)
_ASSISTANT_SYSTEM_PREFIXES = ("duckdb_", "pragma_", "pg_", "has_", "current_setting", "txid_")


class QueryRefused(ValueError):
    """The SQL is not a single read of the warehouse; `reason` says what and why."""

    def __init__(self, reason: str, allowed: str = _ALLOWED) -> None:
        self.reason = reason
        super().__init__(f"refused: {reason}; {allowed}")


class QueryTimedOut(QueryRefused):
    """The assistant's query ran past its time limit and was interrupted."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"it ran longer than {seconds:g} s and was interrupted", _ASSISTANT_ALLOWED
        )


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    sql: str | None = None  # the statement that ran, as checked (the assistant's gate sets it)


def check_query(sql: str) -> str:
    """The one statement in `sql`, regenerated from its parse tree, if it only reads.

    Raises QueryRefused, naming what was refused and why, otherwise."""
    statements = _parse(sql)
    if not statements:
        raise QueryRefused("the text holds no statement")
    if len(statements) > 1:
        raise QueryRefused(f"the text holds {len(statements)} statements")
    (statement,) = statements
    if not isinstance(statement, (exp.Query, *_READ_STATEMENTS)):
        raise QueryRefused(_statement_reason(statement))
    for node in statement.walk():
        reason = _node_reason(node)
        if reason:
            raise QueryRefused(reason)
    return statement.sql(dialect="duckdb", comments=False)


def connect_read_only(path: Path | str) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only, with no way out to files, the network or extensions."""
    import duckdb

    return duckdb.connect(str(path), read_only=True, config=dict(HARDENED_CONFIG))


def run_query(path: Path | str, sql: str, limit: int | None = None) -> QueryResult:
    """Check `sql`, then run it on the hardened connection; at most `limit` rows."""
    checked = check_query(sql)
    con = connect_read_only(path)
    try:
        _require_one_select(con, checked, _ALLOWED)
        cursor = con.execute(checked)
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
    finally:
        con.close()
    return QueryResult(columns, rows)


def check_assistant_query(
    sql: str, allowed_tables: Iterable[str], max_rows: int = ASSISTANT_MAX_ROWS
) -> str:
    """The one SELECT in `sql`, its tables qualified and a LIMIT of at most `max_rows`.

    `allowed_tables` are `schema.table` names (case does not matter). Raises QueryRefused
    if `check_query` refuses the text or the narrower rules do."""
    allowed = normalized_tables(allowed_tables)
    try:
        checked = check_query(sql)
    except QueryRefused as refused:
        raise QueryRefused(refused.reason, _ASSISTANT_ALLOWED) from None
    statement = sqlglot.parse_one(checked, read="duckdb")
    if isinstance(statement, exp.Subquery):  # `(select ...)`: the query inside
        statement = statement.unnest()
    if not isinstance(statement, exp.Select | exp.SetOperation):
        raise QueryRefused(f"{statement.key.upper()} is not a SELECT", _ASSISTANT_ALLOWED)
    for node in statement.walk():
        reason = _assistant_node_reason(node)
        if reason:
            raise QueryRefused(reason, _ASSISTANT_ALLOWED)
    _qualify_and_check_tables(statement, allowed)
    _limit_rows(statement, max_rows)
    return statement.sql(dialect="duckdb", comments=False)


def run_assistant_query(
    path: Path | str,
    sql: str,
    *,
    extra_tables: Iterable[str] = (),
    max_rows: int = ASSISTANT_MAX_ROWS,
    timeout_seconds: float = ASSISTANT_TIMEOUT_SECONDS,
) -> QueryResult:
    """Run SQL a model wrote: `check_assistant_query` over the tables of `analytics` (and
    `extra_tables`), DuckDB's parser asked again, at most `max_rows` rows, interrupted
    after `timeout_seconds` (QueryTimedOut)."""
    import duckdb

    con = connect_read_only(path)
    try:
        allowed = analytics_tables(con) | normalized_tables(extra_tables)
        checked = check_assistant_query(sql, allowed, max_rows)
        _require_one_select(con, checked, _ASSISTANT_ALLOWED)
        _require_tables_duckdb_sees_allowed(con, checked, allowed)
        timer = threading.Timer(timeout_seconds, con.interrupt)
        timer.start()
        try:
            cursor = con.execute(checked)
            columns = [column[0] for column in cursor.description]
            rows = cursor.fetchmany(max_rows)
        except duckdb.InterruptException:
            raise QueryTimedOut(timeout_seconds) from None
        finally:
            timer.cancel()
    finally:
        con.close()
    return QueryResult(columns, rows, checked)


def analytics_tables(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The tables and views of the `analytics` schema, as `analytics.<name>`, lower case."""
    names = con.execute(
        "select table_name from information_schema.tables where lower(table_schema) = ?",
        [ASSISTANT_SCHEMA],
    ).fetchall()
    return frozenset(f"{ASSISTANT_SCHEMA}.{name.lower()}" for (name,) in names)


def normalized_tables(names: Iterable[str]) -> frozenset[str]:
    """`schema.table` names in lower case; a name without its schema is refused."""
    tables = set()
    for name in names:
        parts = name.strip().lower().split(".")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"allowed table {name!r}: expected schema.table")
        tables.add(".".join(parts))
    return frozenset(tables)


def _require_one_select(con: duckdb.DuckDBPyConnection, checked: str, allowed: str) -> None:
    import duckdb

    parsed = con.extract_statements(checked)
    if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(statement.type.name for statement in parsed)
        raise QueryRefused(
            f"DuckDB reads it as {len(parsed)} statement(s) ({kinds}), not one read", allowed
        )


def _assistant_node_reason(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Func):
        for name in _function_names(node):
            if name in _ASSISTANT_SYSTEM_FUNCTIONS or name.startswith(_ASSISTANT_SYSTEM_PREFIXES):
                return f"{name} tells about the system, not the data"
    # `select user`, `select current_role`: keywords sqlglot leaves as bare columns.
    if isinstance(node, exp.Column) and not node.table:
        name = node.name.lower()
        if name in _ASSISTANT_SYSTEM_FUNCTIONS or name.startswith(_ASSISTANT_SYSTEM_PREFIXES):
            return f"{name} tells about the system, not the data"
    if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
        return f"{node.this.sql(dialect='duckdb')} is a table function, not a table of analytics"
    return None


def _qualify_and_check_tables(statement: exp.Expr, allowed: frozenset[str]) -> None:
    """Every table the query reads is allowed; `fct_orders` becomes `analytics.fct_orders`."""
    try:
        scopes = traverse_scope(statement)
    except SqlglotError as error:
        raise QueryRefused(f"its tables cannot be resolved ({error})", _ASSISTANT_ALLOWED) from None
    real = {
        id(source): source
        for scope in scopes
        for source in scope.sources.values()
        if isinstance(source, exp.Table)
    }
    cte_references = {
        id(table)
        for scope in scopes
        for table in scope.tables
        if not table.db and isinstance(scope.sources.get(table.alias_or_name), Scope)
    }
    for table in statement.find_all(exp.Table):
        if id(table) in cte_references and id(table) not in real:
            continue
        name = table.name.lower()
        if not table.db and f"{ASSISTANT_SCHEMA}.{name}" in allowed:
            table.set("db", exp.to_identifier(ASSISTANT_SCHEMA))
        if table.catalog or f"{table.db.lower()}.{name}" not in allowed:
            raise QueryRefused(
                f"{table.sql(dialect='duckdb')} is not one of the analytics schema's tables",
                _ASSISTANT_ALLOWED,
            )


def _require_tables_duckdb_sees_allowed(
    con: duckdb.DuckDBPyConnection, checked: str, allowed: frozenset[str]
) -> None:
    for name in con.get_table_names(checked, qualified=True):
        table = sqlglot.parse_one(f"select * from {name}", read="duckdb").find(exp.Table)
        if (
            table is None
            or table.catalog
            or f"{table.db.lower()}.{table.name.lower()}" not in allowed
        ):
            raise QueryRefused(
                f"DuckDB reads {name}, which is not one of the analytics schema's tables",
                _ASSISTANT_ALLOWED,
            )


def _limit_rows(statement: exp.Expr, max_rows: int) -> None:
    """A LIMIT of at most `max_rows`: a smaller literal one is kept, any other replaced."""
    limit = statement.args.get("limit")
    if (
        isinstance(limit, exp.Limit)
        and isinstance(limit.expression, exp.Literal)
        and limit.expression.is_int
        and not limit.args.get("limit_options")
        and int(limit.expression.name) <= max_rows
    ):
        return
    statement.set("limit", exp.Limit(expression=exp.Literal.number(max_rows)))


def _parse(sql: str) -> list[exp.Expr]:
    try:
        with _quiet_command_fallback():
            statements = sqlglot.parse(sql, read="duckdb")
    except SqlglotError as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise QueryRefused(f"it does not parse as DuckDB SQL ({first_line})") from None
    return [statement for statement in statements if statement is not None]


@contextmanager
def _quiet_command_fallback() -> Iterator[None]:
    """Drop sqlglot's warning for text it keeps as a raw command: the check refuses it."""
    logger = logging.getLogger("sqlglot")

    def keep(record: logging.LogRecord) -> bool:
        return _COMMAND_FALLBACK not in record.getMessage()

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _statement_reason(statement: exp.Expr) -> str:
    if isinstance(statement, exp.Command):
        keyword = str(statement.this).upper()
        return _REFUSED_COMMANDS.get(keyword, f"{keyword} is not a statement this check can read")
    reason = _write_reason(statement)
    if reason:
        return reason
    # A bare word parses as a column (`checkpoint`); name it as written.
    keyword = statement.name if isinstance(statement, exp.Column) else statement.key
    return f"{keyword.upper()} is not a query"


def _write_reason(node: exp.Expr) -> str | None:
    for kind, reason in _REFUSED_STATEMENTS:
        if isinstance(node, kind):
            return reason
    if isinstance(node, _WRITE_STATEMENTS):
        keyword = "TRUNCATE" if isinstance(node, exp.TruncateTable) else node.key.upper()
        return f"{keyword} changes the warehouse"
    return None


def _node_reason(node: exp.Expr) -> str | None:
    """Why this node, anywhere in the tree (a CTE, a subquery, a join), is refused."""
    if isinstance(node, exp.Command):
        return _statement_reason(node)
    reason = _write_reason(node)
    if reason:
        return reason
    if isinstance(node, exp.Func):
        for name in _function_names(node):
            reason = _function_reason(name)
            if reason:
                return reason
    if isinstance(node, exp.Table):
        return _table_reason(node)
    if isinstance(node, exp.Describe | exp.Summarize) and isinstance(node.this, exp.Literal):
        return f"'{node.this.name}' names a file, not a table of the warehouse"
    return None


def _function_names(node: exp.Func) -> set[str]:
    """The names DuckDB may see for this call: as written, and as sqlglot writes it back."""
    if isinstance(node, exp.Anonymous):
        return {node.name.lower()}
    names = {name.lower() for name in type(node).sql_names()}
    generated = node.sql(dialect="duckdb", comments=False)
    if "(" in generated:
        names.add(generated.split("(", 1)[0].strip().lower())
    return names


def _function_reason(name: str) -> str | None:
    if name in _FILE_FUNCTIONS or name.startswith(_FILE_PREFIXES) or name.endswith(_FILE_SUFFIXES):
        return f"{name} reads files or the network"
    if name in _SQL_STRING_FUNCTIONS:
        return f"{name} runs SQL held in a string, which this check cannot see into"
    if name in _SYSTEM_FUNCTIONS or name.startswith(_SYSTEM_PREFIXES):
        return f"{name} reads or changes DuckDB's settings or the host's state"
    return None


def _table_reason(table: exp.Table) -> str | None:
    if isinstance(table.this, exp.Literal):
        return f"'{table.this.name}' names a file, not a table of the warehouse"
    for part in table.parts:
        if not isinstance(part, exp.Identifier):
            continue  # a table function: its call is checked as a function
        name = part.name
        if _PATH_CHARACTERS.intersection(name):
            return f"'{name}' names a file, not a table of the warehouse"
        # DuckDB's system views (`pragma_database_list`, `duckdb_logs`, `pg_settings`).
        lowered = name.lower()
        if lowered in _SYSTEM_FUNCTIONS or lowered.startswith(_SYSTEM_PREFIXES):
            return _function_reason(lowered)
    return None
