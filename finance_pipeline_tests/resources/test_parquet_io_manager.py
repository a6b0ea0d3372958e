"""ParquetIOManager through real Dagster materializations on real files and moto's S3 server."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest
from dagster_aws.s3 import S3Resource

from finance_pipeline.assets.common import new_york_midnight
from finance_pipeline.calendar import sessions_between
from finance_pipeline.lake import Lake
from finance_pipeline.lake.layout import FILE_NAME
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.resources.lake import LakeResource
from finance_pipeline.resources.parquet_io_manager import ParquetIOManager
from finance_pipeline.schemas import DATASETS
from finance_pipeline_tests.lake.support import new_bucket, sample_frame
from finance_pipeline_tests.moto_s3 import MOTO_KEYS, moto_s3

# 20 sessions from 2024-01-02: MLK day (01-15) and weekends are not partitions.
RANGE = sessions_between(dt.date(2024, 1, 2), dt.date(2024, 2, 1))[:20]
EMPTY_SESSION = RANGE[7]  # a session the source returned no rows for


def rows_for(session: dt.date) -> int:
    return 0 if session == EMPTY_SESSION else 1 + session.day % 4


def bars(sessions: list[dt.date]) -> pd.DataFrame:
    """Valid day bars (the IO manager audits them): window start 00:00 New York, prices set."""
    frames = []
    for day in sessions:
        frame = sample_frame("grouped_daily_bars", day, rows_for(day))
        frame["window_start"] = new_york_midnight(day)
        for column in ("open", "high", "low", "close", "volume"):
            frame[column] = 100.0
        frames.append(frame)
    return pd.concat([f for f in frames if len(f)], ignore_index=True)


@dg.asset(
    name="grouped_daily_bars",
    partitions_def=TRADING_SESSIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def grouped_daily_bars(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return bars([dt.date.fromisoformat(key) for key in context.partition_keys])


@dg.asset(
    name="daily_bars",
    partitions_def=TRADING_SESSIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def daily_bars(context: dg.AssetExecutionContext, grouped_daily_bars: pd.DataFrame) -> pa.Table:
    context.add_output_metadata({"rows_loaded": len(grouped_daily_bars)})
    context.add_output_metadata(
        {"sessions_loaded": ",".join(sorted({str(d) for d in grouped_daily_bars["session"]}))}
    )
    return pa.Table.from_pandas(grouped_daily_bars.assign(source="grouped_daily_bars"))


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def materializations(result: dg.ExecuteInProcessResult, name: str) -> list[dg.AssetMaterialization]:
    return [m for m in result.asset_materializations_for_node(name) if m.asset_key.path[-1] == name]


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failures, "expected a failed step"
    error = failures[0].step_failure_data.error
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause
    return "\n".join(parts)


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, object]]:
    with moto_s3() as endpoint_and_client:
        yield endpoint_and_client


def test_single_run_range_writes_one_file_per_session(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    result = dg.materialize(
        [grouped_daily_bars, daily_bars],
        resources={"io_manager": ParquetIOManager(lake=LakeResource(lake_root=str(root)))},
        tags=range_tags(RANGE[0], RANGE[-1]),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success

    files = sorted((root / "grouped_daily_bars").glob(f"session=*/{FILE_NAME}"))
    assert [f.parent.name for f in files] == [f"session={day}" for day in RANGE]
    lake = Lake(str(root))
    assert lake.stored_sessions("grouped_daily_bars") == RANGE
    assert lake.read("grouped_daily_bars", EMPTY_SESSION).num_rows == 0
    for day in RANGE:
        assert lake.read("grouped_daily_bars", day).num_rows == rows_for(day)

    expected_rows = sum(rows_for(day) for day in RANGE)
    events = materializations(result, "grouped_daily_bars")
    assert sorted(e.partition for e in events) == [day.isoformat() for day in RANGE]
    # Each session's event carries its own rows, bytes and file, not the run's totals.
    by_partition = {e.partition: e.metadata for e in events}
    for day, file in zip(RANGE, files, strict=True):
        own = by_partition[day.isoformat()]
        assert own["dagster/row_count"].value == rows_for(day)
        assert own["bytes_written"].value == file.stat().st_size
        assert own["uri"] == dg.MetadataValue.path(str(file))
        assert own["partitions_written"].value == 1
    assert sum(m["dagster/row_count"].value for m in by_partition.values()) == expected_rows
    schema = events[0].metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == DATASETS["grouped_daily_bars"].names
    assert schema.columns[0].type == "string" and not schema.columns[0].constraints.nullable

    # The downstream step loaded the whole upstream range as one frame.
    downstream = materializations(result, "daily_bars")[0].metadata
    assert downstream["rows_loaded"].value == expected_rows
    loaded = downstream["sessions_loaded"].value.split(",")
    assert loaded == [str(day) for day in RANGE if day != EMPTY_SESSION]
    assert lake.load_table("daily_bars")["source"].unique().to_pylist() == ["grouped_daily_bars"]
    assert lake.load_table("daily_bars").num_rows == expected_rows


def test_single_partition_run_and_arrow_input(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    io_manager = ParquetIOManager(lake=LakeResource(lake_root=root))
    day = RANGE[3]

    @dg.asset(name="rest_fills", partitions_def=TRADING_SESSIONS)
    def rest_fills(grouped_daily_bars: pa.Table) -> pd.DataFrame:
        assert isinstance(grouped_daily_bars, pa.Table)
        frame = grouped_daily_bars.to_pandas()  # rest_fills holds minute bars: 09:30 New York
        return frame.assign(window_start=frame["window_start"] + pd.Timedelta(minutes=570))

    instance = dg.DagsterInstance.ephemeral()
    resources = {"io_manager": io_manager}
    assert dg.materialize([grouped_daily_bars], resources=resources, partition_key=str(day)).success
    result = dg.materialize(
        [grouped_daily_bars, rest_fills],
        selection=[rest_fills],
        resources=resources,
        partition_key=str(day),
        instance=instance,
    )
    assert result.success
    metadata = materializations(result, "rest_fills")[0].metadata
    file = Path(root) / "rest_fills" / f"session={day}" / FILE_NAME
    assert metadata["uri"] == dg.MetadataValue.path(str(file))
    assert metadata["partitions_written"].value == 1
    assert metadata["dagster/row_count"].value == rows_for(day)
    assert metadata["bytes_written"].value == file.stat().st_size
    assert Lake(root).stored_sessions("rest_fills") == [day]


def test_missing_upstream_partition_names_dataset_and_session(tmp_path: Path) -> None:
    result = dg.materialize(
        [grouped_daily_bars, daily_bars],
        selection=[daily_bars],
        resources={
            "io_manager": ParquetIOManager(lake=LakeResource(lake_root=str(tmp_path / "lake")))
        },
        partition_key=str(RANGE[2]),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    message = failure_message(result)
    assert "grouped_daily_bars" in message and str(RANGE[2]) in message
    assert "not in the lake" in message


def test_rows_outside_the_partition_fail_the_step_naming_them(tmp_path: Path) -> None:
    @dg.asset(name="grouped_daily_bars", partitions_def=TRADING_SESSIONS)
    def wrong_day() -> pd.DataFrame:
        return bars([RANGE[1]])

    result = dg.materialize(
        [wrong_day],
        resources={
            "io_manager": ParquetIOManager(lake=LakeResource(lake_root=str(tmp_path / "lake")))
        },
        partition_key=str(RANGE[0]),
        raise_on_error=False,
    )
    assert not result.success
    message = failure_message(result)
    assert f"session(s) {RANGE[1]}" in message and f"session {RANGE[0]}" in message
    assert not (tmp_path / "lake" / "grouped_daily_bars").exists()


def test_none_output_writes_nothing_and_unpartitioned_assets_work(tmp_path: Path) -> None:
    root = tmp_path / "lake"

    @dg.asset(name="universe_snapshot")
    def nothing() -> None:
        return None

    @dg.asset(key=["reference", "splits"])
    def splits() -> pd.DataFrame:
        return sample_frame("splits", RANGE[0])

    @dg.asset(name="dividends", ins={"splits": dg.AssetIn(key=["reference", "splits"])})
    def dividends(splits: pd.DataFrame) -> pd.DataFrame:
        return sample_frame("dividends", RANGE[0], rows=len(splits) + 1)

    io_manager = ParquetIOManager(lake=LakeResource(lake_root=str(root)))
    result = dg.materialize([nothing, splits, dividends], resources={"io_manager": io_manager})
    assert result.success
    assert not (root / "universe_snapshot").exists()
    assert (root / "splits" / FILE_NAME).is_file()  # dataset = last key component
    lake = Lake(str(root))
    assert lake.read("splits", None).num_rows == 4
    assert lake.read("dividends", None).num_rows == 5  # loaded all 4 splits rows


def test_s3_lake_through_the_nested_s3_resource(s3) -> None:
    endpoint, client = s3
    bucket = new_bucket(client)
    s3_resource = S3Resource(endpoint_url=endpoint, **MOTO_KEYS)
    io_manager = ParquetIOManager(
        lake=LakeResource(lake_root=f"s3://{bucket}/lake", s3=s3_resource)
    )
    first, last = RANGE[0], RANGE[4]
    result = dg.materialize(
        [grouped_daily_bars, daily_bars],
        resources={"io_manager": io_manager},
        tags=range_tags(first, last),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success

    listed = client.list_objects_v2(Bucket=bucket, Prefix="lake/grouped_daily_bars/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        f"lake/grouped_daily_bars/session={day}/{FILE_NAME}" for day in RANGE[:5]
    ]
    events = materializations(result, "grouped_daily_bars")
    by_partition = {e.partition: e.metadata for e in events}
    first_key = f"lake/grouped_daily_bars/session={first}/{FILE_NAME}"
    assert by_partition[first.isoformat()]["uri"] == dg.MetadataValue.url(
        f"s3://{bucket}/{first_key}"
    )
    assert sum(m["bytes_written"].value for m in by_partition.values()) == sum(
        o["Size"] for o in listed
    )
    assert [by_partition[d.isoformat()]["dagster/row_count"].value for d in RANGE[:5]] == [
        rows_for(day) for day in RANGE[:5]
    ]
    every_value = " ".join(
        str(value)
        for m in result.get_asset_materialization_events()
        for value in m.materialization.metadata.values()
    )
    assert MOTO_KEYS["aws_secret_access_key"] not in every_value
