"""What every Dagster check shares: the lake resource, the sessions a run covers, reading stored
partitions, and turning a rule's Verdict into an AssetCheckResult."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from finance_pipeline.calendar import session_from_partition_key
from finance_pipeline.checks.rules.verdicts import Verdict
from finance_pipeline.lake import Lake, LakeError, PartitionMissing

# The lake resource (finance_pipeline.resources.lake.LakeResource); checks read the lake through it.
LAKE_RESOURCE_KEY = "lake"


def lake_of(context: dg.AssetCheckExecutionContext) -> Lake:
    return getattr(context.resources, LAKE_RESOURCE_KEY).get_lake()


def check_sessions(context: dg.AssetCheckExecutionContext) -> list[dt.date]:
    """The sessions a partitioned check evaluates: one, or every session of a range run."""
    return [session_from_partition_key(key) for key in context.partition_keys]


def read_optional(lake: Lake, dataset: str, session: dt.date) -> pa.Table | None:
    """The stored partition, or None when it is not in the lake."""
    try:
        return lake.read(dataset, session)
    except PartitionMissing:
        return None


def stored_footer(lake: Lake, dataset: str, session: dt.date) -> tuple[pa.Schema, int] | None:
    """(schema as written, row count) of a stored partition, None when absent.

    Local lakes read only the Parquet footer; S3 lakes read the file (the lake has no ranged
    read yet)."""
    if not lake.exists(dataset, session):
        return None
    try:
        if not lake.is_s3:
            with pq.ParquetFile(lake.uri(dataset, session)) as footer:
                return footer.schema_arrow.remove_metadata(), footer.metadata.num_rows
        table = lake.read(dataset, session)
    except (pa.ArrowException, OSError, LakeError):
        return None  # a bad file is no history; its own check names it
    return table.schema, table.num_rows


def stored_source(lake: Lake, dataset: str, session: dt.date) -> str | None:
    """The `source` a curated partition was built from (one per session), None when absent or
    empty. Local lakes read it from the footer's column statistics."""
    if not lake.exists(dataset, session):
        return None
    if lake.is_s3:
        column = lake.read(dataset, session).column("source")
        return column[0].as_py() if len(column) else None
    with pq.ParquetFile(lake.uri(dataset, session)) as parquet:
        index = parquet.schema_arrow.get_field_index("source")
        if parquet.metadata.num_row_groups == 0:
            return None
        statistics = parquet.metadata.row_group(0).column(index).statistics
        return statistics.min if statistics is not None and statistics.has_min_max else None


def to_result(
    verdict: Verdict, *, asset_key: dg.AssetKey | None = None, check_name: str | None = None
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        asset_key=asset_key,
        check_name=check_name,
        severity=dg.AssetCheckSeverity(verdict.severity.value),
        description=verdict.description,
        metadata=cast(dict[str, Any], verdict.metadata),
    )
