"""Glue between the pure check logic and Dagster: the lake, the sessions, the results."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from finance_pipeline.calendar import session_from_partition_key
from finance_pipeline.checks.common import Severity, Verdict
from finance_pipeline.lake import Lake, PartitionMissing

# The lake resource; checks read the lake through it.
LAKE_RESOURCE_KEY = "lake"
# Caps concurrent steps that call Polygon across all runs (same pool as the REST assets).
POLYGON_POOL = "polygon_api"


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
    if not lake.is_s3:
        with pq.ParquetFile(lake.uri(dataset, session)) as footer:
            return footer.schema_arrow.remove_metadata(), footer.metadata.num_rows
    table = lake.read(dataset, session)
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


def combine(verdicts: dict[dt.date, Verdict]) -> Verdict:
    """One verdict for a range run: the worst session's, with how many sessions failed."""
    if len(verdicts) == 1:
        return next(iter(verdicts.values()))
    failed = {s: v for s, v in verdicts.items() if not v.passed}
    sessions_meta = {"sessions": len(verdicts), "failed_sessions": len(failed)}
    if not failed:
        first, last = min(verdicts), max(verdicts)
        totals = _totals([v.metadata for v in verdicts.values()])
        text = f"{len(verdicts)} sessions {first}..{last} pass"
        return Verdict.ok(text, **totals, **sessions_meta)
    errors = [s for s, v in failed.items() if v.severity is Severity.ERROR]
    worst_session = min(errors) if errors else min(failed)
    worst = failed[worst_session]
    listed = ", ".join(str(s) for s in sorted(failed)[:10])
    return Verdict(
        passed=False,
        severity=worst.severity,
        description=f"{len(failed)} of {len(verdicts)} sessions fail ({listed}); "
        f"{worst_session}: {worst.description}",
        metadata={**worst.metadata, **sessions_meta, "worst_session": worst_session.isoformat()},
    )


def _totals(metadata: list[dict[str, object]]) -> dict[str, object]:
    """Numbers over several sessions: counts summed, differences at their maximum, shares at
    their minimum (the worst session in each case)."""
    totals: dict[str, object] = {}
    for key in metadata[0]:
        values = [m.get(key) for m in metadata]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            totals[key] = sum(values)  # type: ignore[arg-type]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            worst = min if key.endswith("share") else max
            totals[key] = worst(values)  # type: ignore[type-var]
    return totals


def to_result(
    verdict: Verdict, *, asset_key: dg.AssetKey | None = None, check_name: str | None = None
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        asset_key=asset_key,
        check_name=check_name,
        severity=dg.AssetCheckSeverity(verdict.severity.value),
        description=verdict.description,
        metadata=verdict.metadata,
    )
