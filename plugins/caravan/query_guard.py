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
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

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


class QueryRefused(ValueError):
    """The SQL is not a single read of the warehouse; `reason` says what and why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"refused: {reason}; {_ALLOWED}")


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]


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
    import duckdb

    checked = check_query(sql)
    con = connect_read_only(path)
    try:
        parsed = con.extract_statements(checked)
        if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT:
            kinds = ", ".join(statement.type.name for statement in parsed)
            raise QueryRefused(
                f"DuckDB reads it as {len(parsed)} statement(s) ({kinds}), not one read"
            )
        cursor = con.execute(checked)
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
    finally:
        con.close()
    return QueryResult(columns, rows)


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
