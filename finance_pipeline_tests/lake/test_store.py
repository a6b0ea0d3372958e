"""The Parquet lake against real files and a real S3 API (moto's server mode over loopback):
round trips, validation, range writes, reads and the environment."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finance_pipeline.calendar import SessionError, sessions_between
from finance_pipeline.lake import Lake, LakeError, PartitionMissing, SessionMismatch, lake_from_env
from finance_pipeline.lake.layout import FILE_NAME
from finance_pipeline.schemas import DATASETS, SchemaError
from finance_pipeline_tests.lake.support import S1, S2, S3_, SATURDAY, new_bucket, sample_frame
from finance_pipeline_tests.moto_s3 import MOTO_KEYS

# ------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_round_trip_every_dataset_local(local_lake: Lake, dataset: str) -> None:
    frame = sample_frame(dataset, S1)
    result = local_lake.write(dataset, S1, frame)

    path = Path(local_lake.root) / dataset / "session=2024-03-04" / FILE_NAME
    assert result.uri == str(path)
    assert path.is_file() and result.bytes == path.stat().st_size
    assert result.rows == len(frame)
    stored = local_lake.read(dataset, S1)
    assert stored.schema.equals(DATASETS[dataset], check_metadata=True)
    assert stored.equals(local_lake.conform(dataset, frame))
    # Back through pandas, as the IO manager hands it to assets, and in again unchanged.
    assert local_lake.conform(dataset, stored.to_pandas()).equals(stored)
    assert local_lake.exists(dataset, S1) and not local_lake.exists(dataset, S2)
    assert local_lake.stored_sessions(dataset) == [S1]

    parquet = pq.ParquetFile(path)
    column = parquet.metadata.row_group(0).column(0)
    assert column.compression == "ZSTD"
    assert column.is_stats_set
    assert parquet.schema_arrow.metadata[b"finance_pipeline.session"] == b"2024-03-04"


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_round_trip_every_dataset_s3(s3_lake: Lake, dataset: str) -> None:
    frame = sample_frame(dataset, S2, seed=3)
    result = s3_lake.write(dataset, S2, frame)

    key = f"some/prefix/{dataset}/session=2024-03-05/{FILE_NAME}"
    assert result.uri == f"s3://{s3_lake.bucket}/{key}"
    head = s3_lake.s3.head_object(Bucket=s3_lake.bucket, Key=key)
    assert head["ContentLength"] == result.bytes
    assert s3_lake.read(dataset, S2).equals(s3_lake.conform(dataset, frame))
    assert s3_lake.exists(dataset, S2) and not s3_lake.exists(dataset, S1)
    assert s3_lake.stored_sessions(dataset) == [S2]


def test_read_many_concatenates_in_session_order(local_lake: Lake, s3_lake: Lake) -> None:
    for lake in (local_lake, s3_lake):
        for seed, session in enumerate((S3_, S1, S2)):
            lake.write(
                "grouped_daily_bars",
                session,
                sample_frame("grouped_daily_bars", session, 2 + seed, seed),
            )
        table = lake.read_many("grouped_daily_bars", [S3_, S1, S2, S1])
        assert table.num_rows == 2 + 3 + 4
        assert table["session"].to_pylist() == [S1] * 3 + [S2] * 4 + [S3_] * 2
        assert lake.load_table("grouped_daily_bars").equals(table)
        assert lake.read_many("grouped_daily_bars", []).schema.equals(
            DATASETS["grouped_daily_bars"]
        )


def test_unpartitioned_dataset_lives_beside_the_session_directories(local_lake: Lake) -> None:
    frame = sample_frame("splits", S1)
    result = local_lake.write("splits", None, frame)
    assert result.uri == str(Path(local_lake.root) / "splits" / FILE_NAME)
    assert local_lake.read("splits", None).equals(local_lake.conform("splits", frame))
    assert local_lake.stored_sessions("splits") == []


# ------------------------------------------------------------------------------------ validation


def test_arrow_input_is_cast_safely_or_refused_naming_the_column(local_lake: Lake) -> None:
    conformed = local_lake.conform("rest_fills", sample_frame("rest_fills", S1))
    loose = conformed.set_column(
        conformed.schema.get_field_index("open"), "open", conformed["open"].cast(pa.float32())
    ).set_column(
        conformed.schema.get_field_index("window_start"),
        "window_start",
        conformed["window_start"].cast(pa.timestamp("us", tz="UTC")),
    )
    local_lake.write("rest_fills", S1, loose)
    assert local_lake.read("rest_fills", S1).schema.equals(DATASETS["rest_fills"])

    fractional = conformed.set_column(
        conformed.schema.get_field_index("transactions"),
        "transactions",
        pa.array([1.5, 2.0, 3.0, None]),
    )
    with pytest.raises(SchemaError, match=r"rest_fills: column 'transactions'"):
        local_lake.write("rest_fills", S2, fractional)
    with pytest.raises(SchemaError, match=r"rest_fills: missing column\(s\) vwap"):
        local_lake.write("rest_fills", S2, conformed.drop_columns(["vwap"]))
    null_ticker = sample_frame("rest_fills", S2)
    null_ticker.loc[0, "ticker"] = None
    with pytest.raises(SchemaError, match=r"column 'ticker' has 1 null"):
        local_lake.write("rest_fills", S2, null_ticker)
    with pytest.raises(SchemaError, match=r"unknown dataset 'nope'"):
        local_lake.write("nope", S2, null_ticker)
    assert not local_lake.exists("rest_fills", S2)


def test_rows_of_another_session_are_refused(local_lake: Lake) -> None:
    frame = pd.concat([sample_frame("daily_bars", S1), sample_frame("daily_bars", S2, 2)])
    with pytest.raises(SessionMismatch) as excinfo:
        local_lake.write("daily_bars", S1, frame)
    message = str(excinfo.value)
    assert "daily_bars" in message and "2024-03-05" in message and "2024-03-04" in message
    assert not local_lake.exists("daily_bars", S1)


def test_a_date_that_is_not_a_session_is_refused(local_lake: Lake) -> None:
    with pytest.raises(SessionError, match="2024-03-09 is not an NYSE trading session"):
        local_lake.write("daily_bars", SATURDAY, sample_frame("daily_bars", SATURDAY))
    assert not (Path(local_lake.root) / "daily_bars").exists()


# ------------------------------------------------------------------------------------ ranges


def test_write_sessions_splits_by_session_with_empty_files(tmp_path: Path) -> None:
    sessions = sessions_between(dt.date(2024, 1, 10), dt.date(2024, 1, 19))  # skips MLK day
    frame = pd.concat(
        [sample_frame("daily_bars", day, 1 + i % 3, i) for i, day in enumerate(sessions[:-1])]
    ).sample(frac=1.0, random_state=7)  # rows of all sessions interleaved
    ranged = Lake(str(tmp_path / "ranged"))
    results = ranged.write_sessions("daily_bars", frame, sessions)

    assert [r.session for r in results] == sessions
    assert sum(r.rows for r in results) == len(frame)
    assert results[-1].rows == 0 and ranged.read("daily_bars", sessions[-1]).num_rows == 0
    assert ranged.stored_sessions("daily_bars") == sessions
    # Same bytes as writing each session on its own (rows keep their order).
    single = Lake(str(tmp_path / "single"))
    for day in sessions:
        single.write("daily_bars", day, frame[frame["session"] == day])
        assert (
            Path(single.uri("daily_bars", day)).read_bytes()
            == Path(ranged.uri("daily_bars", day)).read_bytes()
        )


def test_an_ordered_range_of_arrow_tables_is_split_like_single_writes(tmp_path: Path) -> None:
    """What a flat-file range run hands over: per-session tables concatenated in order."""
    dataset = "flat_file_minute_aggs"
    sessions = sessions_between(dt.date(2024, 1, 10), dt.date(2024, 1, 17))
    ranged, single = Lake(str(tmp_path / "ranged")), Lake(str(tmp_path / "single"))
    tables = [
        ranged.conform(dataset, sample_frame(dataset, day, 3 + i, seed=i))
        for i, day in enumerate(sessions)
    ]
    results = ranged.write_sessions(dataset, pa.concat_tables(tables), sessions)

    assert [r.rows for r in results] == [t.num_rows for t in tables]
    for day, table in zip(sessions, tables, strict=True):
        single.write(dataset, day, table)
        assert ranged.read(dataset, day).equals(table)
        assert (
            Path(single.uri(dataset, day)).read_bytes()
            == Path(ranged.uri(dataset, day)).read_bytes()
        )


def test_float_columns_are_stored_without_a_dictionary(local_lake: Lake) -> None:
    """Prices are nearly unique: a dictionary for them costs time and bytes (bench B3)."""
    dataset = "flat_file_minute_aggs"
    local_lake.write(dataset, S1, sample_frame(dataset, S1, rows=50))
    row_group = pq.ParquetFile(local_lake.uri(dataset, S1)).metadata.row_group(0)
    encodings = {
        row_group.column(i).path_in_schema: set(row_group.column(i).encodings)
        for i in range(row_group.num_columns)
    }
    for field in DATASETS[dataset]:
        dictionary = "RLE_DICTIONARY" in encodings[field.name]
        assert dictionary != pa.types.is_floating(field.type), (field, encodings[field.name])


@pytest.mark.parametrize("rows", [1, 50, 120_000])
def test_the_digests_taken_while_encoding_are_those_of_the_stored_bytes(
    local_lake: Lake, rows: int
) -> None:
    """`encode_file` digests the writer's output in blocks beside the encoding (rows=120_000
    spans several blocks); the manifest must still hold the digests of the exact file."""
    dataset = "flat_file_minute_aggs"
    local_lake.write(dataset, S1, sample_frame(dataset, S1, rows=rows))
    body = Path(local_lake.uri(dataset, S1)).read_bytes()
    entry = local_lake.manifest(dataset, S1)
    assert entry is not None and entry.bytes == len(body) and entry.rows == rows
    assert entry.sha256 == hashlib.sha256(body).hexdigest()
    assert entry.md5 == hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert local_lake.check(dataset, S1) is None


def test_write_sessions_refuses_rows_outside_the_range(local_lake: Lake) -> None:
    frame = pd.concat([sample_frame("daily_bars", S1), sample_frame("daily_bars", S3_)])
    with pytest.raises(SessionMismatch, match=r"2024-03-06.*sessions 2024-03-04..2024-03-05"):
        local_lake.write_sessions("daily_bars", frame, [S1, S2])
    assert local_lake.stored_sessions("daily_bars") == []


# ------------------------------------------------------------------------------------ reading


def test_missing_partitions_name_dataset_and_session(local_lake: Lake, s3_lake: Lake) -> None:
    for lake in (local_lake, s3_lake):
        with pytest.raises(PartitionMissing, match=r"grouped_daily_bars session 2024-03-05"):
            lake.read("grouped_daily_bars", S2)
        lake.write("grouped_daily_bars", S1, sample_frame("grouped_daily_bars", S1))
        with pytest.raises(PartitionMissing) as excinfo:
            lake.read_many("grouped_daily_bars", [S1, S2, S3_])
        message = str(excinfo.value)
        assert "grouped_daily_bars: 2 of 3 session(s)" in message
        assert "2024-03-05, 2024-03-06" in message


def test_a_corrupt_file_is_reported_with_its_uri(local_lake: Lake) -> None:
    local_lake.write("rest_fills", S1, sample_frame("rest_fills", S1))
    path = Path(local_lake.uri("rest_fills", S1))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(LakeError, match="not a readable Parquet file") as excinfo:
        local_lake.read("rest_fills", S1)
    assert str(path) in str(excinfo.value)


# ------------------------------------------------------------------------------------ env


def test_lake_from_env_local_and_s3(tmp_path: Path, s3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINANCE_PIPELINE_LAKE", str(tmp_path / "envlake"))
    lake = lake_from_env()
    assert not lake.is_s3 and lake.root == str(tmp_path / "envlake")

    endpoint, client = s3
    bucket = new_bucket(client)
    monkeypatch.setenv("FINANCE_PIPELINE_LAKE", f"s3://{bucket}/lake/")
    monkeypatch.setenv("FINANCE_PIPELINE_LAKE_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", MOTO_KEYS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", MOTO_KEYS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", MOTO_KEYS["region_name"])
    lake = lake_from_env()
    assert lake.is_s3 and lake.root == f"s3://{bucket}/lake"
    lake.write("rest_fills", S1, sample_frame("rest_fills", S1))
    key = f"lake/rest_fills/session=2024-03-04/{FILE_NAME}"
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
