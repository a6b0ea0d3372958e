"""What every Dagster check shares: the lake resource, the sessions a run covers, reading stored
partitions, and turning a rule's Verdict into an AssetCheckResult."""

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

# Not re-exported by dagster: the pointer that makes a partition's check result "current".
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as TargetMaterialization,
)

from finance_pipeline.calendar import partition_key, session_from_partition_key
from finance_pipeline.checks.rules.verdicts import Verdict
from finance_pipeline.lake import Lake, LakeError, PartitionMissing
from finance_pipeline.partitions import TRADING_SESSIONS

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


SessionResults = Iterator[dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output]


def session_results(
    context: dg.AssetCheckExecutionContext,
    asset_key: dg.AssetKey,
    verdicts: Mapping[str, Mapping[dt.date, Verdict]],
) -> SessionResults:
    """Each session's own result of each check (`verdicts`: check name -> session -> Verdict).

    A one-session run yields AssetCheckResults, which Dagster records on that partition. In a
    range run an AssetCheckResult has no partition (Dagster 1.13 records it once, and the UI
    shows every session "Skipped"), so the check's output is yielded once and every session
    gets its own `AssetCheckEvaluation(partition=...)`, pointing at that partition's latest
    materialization: the record the check's Partitions tab and the graph badge read. A failed
    blocking ERROR evaluation still fails the step, so downstream steps are still held back.
    """
    if len(context.partition_keys) <= 1:
        for name, by_session in verdicts.items():
            for verdict in by_session.values():
                yield to_result(verdict, asset_key=asset_key, check_name=name)
        return
    specs = {spec.key: spec for spec in context.check_specs}
    assets_def = context.op_execution_context.assets_def
    targets: dict[str, TargetMaterialization | None] = {}
    for name, by_session in verdicts.items():
        spec = specs[dg.AssetCheckKey(asset_key, name)]
        yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key))
        for session, verdict in by_session.items():
            key = partition_key(session)
            if key not in targets:
                targets[key] = _latest_materialization(context.instance, asset_key, key)
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=name,
                passed=verdict.passed,
                metadata=cast(dict[str, Any], verdict.metadata),
                target_materialization_data=targets[key],
                severity=dg.AssetCheckSeverity(verdict.severity.value),
                description=verdict.description,
                blocking=spec.blocking,
                partition=key,
            )


def _latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, key: str
) -> TargetMaterialization | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key]), limit=1
    ).records
    if not records:
        return None
    return TargetMaterialization(
        storage_id=records[0].storage_id,
        run_id=records[0].run_id,
        timestamp=records[0].timestamp,
    )


def lake_check(
    evaluate: Callable[[Lake, dt.date], Verdict],
    *,
    asset: str,
    name: str,
    description: str,
    blocking: bool = True,
    reads: tuple[str, ...] = (),
) -> dg.AssetChecksDefinition:
    """A check of `asset`, partitioned by session, that reads only the lake: `evaluate` on every
    session of the run, one result per session (`session_results`); `reads` run first when
    they are in the same run."""

    # @asset_check runs generator bodies (yielding per-session results) but is typed for a
    # returned AssetCheckResult only.
    @dg.asset_check(  # type: ignore[arg-type]
        asset=asset,
        name=name,
        description=description,
        additional_deps=list(reads),
        blocking=blocking,
        partitions_def=TRADING_SESSIONS,
        required_resource_keys={LAKE_RESOURCE_KEY},
    )
    def _check(context: dg.AssetCheckExecutionContext) -> SessionResults:
        lake = lake_of(context)
        verdicts = {s: evaluate(lake, s) for s in check_sessions(context)}
        yield from session_results(context, dg.AssetKey(asset), {name: verdicts})

    return _check
