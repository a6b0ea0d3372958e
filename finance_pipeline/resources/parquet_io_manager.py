"""The Dagster IO manager that stores asset outputs in the Parquet lake.

Dataset = the asset key's last component. A partitioned output is written one file per session:
a single-partition run writes that session, a single-run backfill over a range splits the frame
by its `session` column (UPathIOManager cannot do this, dagster issue #14332).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from finance_pipeline.calendar import partition_key, session_from_partition_key
from finance_pipeline.lake import Lake, WriteResult
from finance_pipeline.lake.publish import PartitionRefused, publish_sessions
from finance_pipeline.resources.lake import LakeResource
from finance_pipeline.schemas import COLUMN_DESCRIPTIONS


def table_schema(schema: pa.Schema) -> dg.TableSchema:
    """A Dagster TableSchema describing an Arrow schema (for `dagster/column_schema`)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field.name,
                type=str(field.type),
                description=COLUMN_DESCRIPTIONS.get(field.name),
                constraints=dg.TableColumnConstraints(nullable=field.nullable),
            )
            for field in schema
        ]
    )


def _sessions(keys: list[str]) -> list[dt.date]:
    return [session_from_partition_key(key) for key in keys]


class ParquetIOManager(dg.ConfigurableIOManager):
    """Reads and writes asset outputs in the lake of its `LakeResource`, one file per session."""

    lake: LakeResource = Field(description="The lake the outputs are stored in.")

    def get_lake(self) -> Lake:
        return self.lake.get_lake()

    def handle_output(self, context: dg.OutputContext, obj: pa.Table | pd.DataFrame | None) -> None:
        if obj is None:
            return
        if not context.has_asset_key:
            raise dg.Failure(
                f"ParquetIOManager stores asset outputs only; output {context.name!r} of "
                f"{context.step_key!r} has no asset key"
            )
        dataset = context.asset_key.path[-1]
        lake = self.get_lake()
        results: list[WriteResult]
        if context.has_asset_partitions:
            sessions = _sessions(list(context.asset_partition_keys))
            results = _publish(lake, dataset, obj, sessions)
            uri = results[0].uri if len(results) == 1 else lake.dataset_uri(dataset)
        else:
            results = [lake.write(dataset, None, obj)]
            uri = results[0].uri
        if len(results) > 1:
            _record_per_session(context, lake, results)
            return
        context.add_output_metadata(
            {
                "dagster/row_count": sum(result.rows for result in results),
                "bytes_written": sum(result.bytes for result in results),
                "uri": _uri_metadata(lake, uri),
                "dagster/column_schema": table_schema(lake.schema(dataset)),
                "partitions_written": len(results),
                # Rewrites with identical bytes leave the file alone (vendor re-fetches that
                # changed nothing); this counts the partitions whose content really changed.
                "partitions_changed": sum(result.changed for result in results),
                "partitions_quarantined": 0,
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame | pa.Table:
        """A pandas DataFrame (or a pyarrow Table when the input is annotated `pa.Table`) of
        every upstream partition the step depends on, concatenated in session order."""
        if not context.has_asset_key:
            raise dg.Failure(f"ParquetIOManager loads assets only; input {context.name!r} has none")
        dataset = context.asset_key.path[-1]
        lake = self.get_lake()
        if context.has_asset_partitions:
            table = lake.read_many(dataset, _sessions(list(context.asset_partition_keys)))
        else:
            table = lake.read(dataset, None)
        if _wants_arrow(context):
            return table
        return table.to_pandas()


def _publish(
    lake: Lake, dataset: str, obj: pa.Table | pd.DataFrame, sessions: list[dt.date]
) -> list[WriteResult]:
    """Write-audit-publish; a refusal fails the step (so nothing downstream runs on it), with
    the quarantined partitions in the failure's metadata."""
    try:
        return publish_sessions(lake, dataset, obj, sessions)
    except PartitionRefused as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={
                "partitions_quarantined": len(exc.refused),
                "quarantined": dg.MetadataValue.json(
                    {
                        q.session: {
                            "reason": q.reason,
                            "rows": q.rows,
                            "stored_rows": q.stored_rows,
                        }
                        for q in exc.refused
                    }
                ),
                "quarantine_uri": exc.refused[0].uri,
            },
            allow_retries=False,
        ) from None


def _record_per_session(context: dg.OutputContext, lake: Lake, results: list[WriteResult]) -> None:
    """A range run: each session's own rows, bytes and file on its own materialization (output
    metadata would be copied onto every session, see assets.common.record_figures)."""
    for result in results:
        context.step_context.add_asset_metadata(
            {
                "dagster/row_count": result.rows,
                "bytes_written": result.bytes,
                "uri": _uri_metadata(lake, result.uri),
                "partitions_written": 1,
                "partitions_changed": int(result.changed),
            },
            asset_key=context.asset_key,
            partition_key=partition_key(result.session) if result.session else None,
        )
    schema = table_schema(lake.schema(results[0].dataset))
    context.add_output_metadata({"dagster/column_schema": schema})


def _uri_metadata(lake: Lake, uri: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(uri) if lake.is_s3 else dg.MetadataValue.path(uri)


def _wants_arrow(context: dg.InputContext) -> bool:
    typing_type: Any = getattr(context.dagster_type, "typing_type", None)
    return typing_type is pa.Table
