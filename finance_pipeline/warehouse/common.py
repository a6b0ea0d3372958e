"""What every part of the warehouse shares: the error type and SQL helpers. The lake's layout
(file names, session directories, listing) is `finance_pipeline.lake.layout`'s."""

from __future__ import annotations

import re

from finance_pipeline.lake.layout import SESSION_KEY
from finance_pipeline.redaction import redact


class WarehouseError(RuntimeError):
    """The warehouse cannot answer; the message says what and why in one line."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, secrets redacted."""
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def glob_literal(path: str) -> str:
    """`path` as a DuckDB glob pattern that matches only itself: a lake root such as `lake[x]`
    must not also read `lakex`."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def read_parquet_sql(paths: list[str]) -> str:
    """DuckDB's read_parquet over session files (paths taken literally), with `session` from
    the hive path as a DATE."""
    listing = ", ".join(sql_str(glob_literal(p)) for p in paths)
    hive_types = f"{{{sql_str(SESSION_KEY)}: DATE}}"
    return f"read_parquet([{listing}], hive_partitioning = true, hive_types = {hive_types})"
