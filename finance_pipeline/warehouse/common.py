"""What every part of the warehouse shares: the lake's layout, the error type, SQL helpers."""

from __future__ import annotations

from finance_pipeline.redaction import redact

PART_FILE = "part-0.parquet"
DATABASE_FILE = "warehouse.duckdb"
COMPACT_DIR = "_compacted"
CURATED = ("daily_bars", "minute_bars")
FLAT_FILE_DATASETS = ("flat_file_day_aggs", "flat_file_minute_aggs")


class WarehouseError(RuntimeError):
    """The warehouse cannot answer; the message says what and why in one line."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, secrets redacted."""
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)


def sql_str(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def read_parquet_sql(paths: list[str]) -> str:
    """DuckDB's read_parquet over session files, with `session` from the hive path as a DATE."""
    listing = ", ".join(sql_str(p) for p in paths)
    return f"read_parquet([{listing}], hive_partitioning = true, hive_types = {{'session': DATE}})"
