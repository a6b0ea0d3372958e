"""Read-only SQL for people (`finance-pipeline query`): one statement of a reading kind, on a
connection that can open no file outside the lake and install or load no extension.

Two guards, both DuckDB's own: its parser (`duckdb.extract_statements`) says what kind of
statement the text is, and only SELECT (which covers WITH, FROM, SHOW, DESCRIBE, SUMMARIZE,
PIVOT ... as a query) and EXPLAIN of such a SELECT pass; the connection's configuration then
disables external access except to the lake's directories and is locked, so a query cannot
turn it back on. The compacted files are attached READ_ONLY, and ATTACH / DETACH / UPDATE are
not reading statements, so the cache cannot be changed either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import duckdb

from finance_pipeline.warehouse.common import WarehouseError, glob_literal, one_line, sql_str

READING = (duckdb.StatementType.SELECT,)
# EXPLAIN [ANALYZE] [(options)]: what follows must itself be a reading statement (EXPLAIN
# ANALYZE executes it).
_EXPLAIN = re.compile(r"\s*explain\b(?:\s+analy[sz]e\b)?(?:\s*\([^)]*\))?", re.IGNORECASE)
_WHY = {
    "COPY": "COPY writes or reads files",
    "ATTACH": "ATTACH opens another database",
    "DETACH": "DETACH changes the attached databases",
    "INSERT": "INSERT changes data",
    "UPDATE": "UPDATE changes data",
    "DELETE": "DELETE changes data",
    "CREATE": "CREATE changes the catalog",
    "DROP": "DROP changes the catalog",
    "ALTER": "ALTER changes the catalog",
    "LOAD": "INSTALL and LOAD add extensions",
    "PRAGMA": "PRAGMA changes settings (use SELECT * FROM pragma_...() to read them)",
    "SET": "SET/RESET/USE change settings (use SELECT current_setting('...') to read one)",
    "EXPORT": "EXPORT writes files",
    "MULTI": "it expands into several statements (write PIVOT as FROM ... PIVOT (...))",
}


class RefusedQuery(WarehouseError):
    """SQL that `query` does not run; the message says why in one line."""


def reading_statement(sql: str) -> str:
    """The one reading statement `sql` holds, or RefusedQuery saying why not."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {one_line(exc)}") from None
    if not statements:
        raise RefusedQuery("query refused: no SQL statement given")
    if len(statements) > 1:
        raise RefusedQuery(
            f"query refused: {len(statements)} statements given; query runs exactly one"
        )
    statement = statements[0]
    kind = statement.type
    if kind == duckdb.StatementType.EXPLAIN:
        match = _EXPLAIN.match(statement.query)
        if match is None:
            raise RefusedQuery("query refused: cannot tell which statement EXPLAIN explains")
        reading_statement(statement.query[match.end() :])
    elif kind not in READING:
        name = kind.name
        why = _WHY.get(name, f"a {name} statement is not a reading one")
        raise RefusedQuery(f"query refused: {why}; query only reads (SELECT, SHOW, DESCRIBE...)")
    return statement.query


def lock_down(con: duckdb.DuckDBPyConnection, roots: Iterable[Path]) -> None:
    """From now on `con` opens files only under `roots` (named literally), installs and loads
    no extension, and cannot change its configuration."""
    dirs = sorted({form for root in roots for form in (str(root), glob_literal(str(root)))})
    listing = ", ".join(sql_str(d.rstrip("/") + "/") for d in dirs)
    con.execute(f"SET allowed_directories = [{listing}]")
    for setting in (
        "enable_external_access",
        "autoinstall_known_extensions",
        "autoload_known_extensions",
    ):
        con.execute(f"SET {setting} = false")
    con.execute("SET lock_configuration = true")
