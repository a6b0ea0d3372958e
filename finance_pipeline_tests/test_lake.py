"""The Parquet lake against real files and a real S3 API (moto's server mode over loopback)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from finance_pipeline import lake as lake_module
from finance_pipeline.calendar import SessionError, sessions_between
from finance_pipeline.lake import (
    FILE_NAME,
    Lake,
    LakeError,
    PartitionMissing,
    SessionMismatch,
    lake_from_env,
)
from finance_pipeline.schemas import DATASETS, SchemaError
from finance_pipeline_tests.moto_s3 import MOTO_KEYS, moto_s3

S1, S2, S3_ = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)
SATURDAY = dt.date(2024, 3, 9)


# ------------------------------------------------------------------------------------ helpers


def sample_frame(dataset: str, session: dt.date, rows: int = 4, seed: int = 0) -> pd.DataFrame:
    """A small valid frame for any dataset schema, with a null in every nullable column."""
    midnight = pd.Timestamp(session, tz="UTC")
    columns: dict[str, list] = {}
    for field in DATASETS[dataset]:
        t = field.type
        if field.name == "session":
            values: list = [session] * rows
        elif pa.types.is_string(t):
            values = [f"{field.name[:2].upper()}{seed}{i}" for i in range(rows)]
        elif pa.types.is_date(t):
            values = [session - dt.timedelta(days=i) for i in range(rows)]
        elif pa.types.is_timestamp(t):
            values = [midnight + pd.Timedelta(minutes=i + seed) for i in range(rows)]
        elif pa.types.is_floating(t):
            values = [100.0 + seed + i / 4 for i in range(rows)]
        elif pa.types.is_integer(t):
            values = [seed * 10 + i for i in range(rows)]
        elif pa.types.is_boolean(t):
            values = [i % 2 == 0 for i in range(rows)]
        else:  # pragma: no cover - a new type in schemas.py needs a generator here
            raise AssertionError(f"no sample values for {field}")
        if field.nullable and rows > 1:
            values[-1] = None
        columns[field.name] = values
    return pd.DataFrame(columns)


def new_bucket(client) -> str:
    name = f"lake-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def litter(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name != FILE_NAME]


@pytest.fixture(scope="module")
def s3() -> Iterator[tuple[str, object]]:
    with moto_s3() as endpoint_and_client:
        yield endpoint_and_client


@pytest.fixture
def s3_lake(s3) -> Lake:
    _, client = s3
    return Lake(f"s3://{new_bucket(client)}/some/prefix", s3_client=client)


@pytest.fixture
def local_lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


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


# ------------------------------------------------------------------------------------ atomicity


def test_failed_writes_leave_the_old_file_byte_identical_and_no_litter(
    local_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_lake.write("grouped_daily_bars", S1, sample_frame("grouped_daily_bars", S1))
    path = Path(local_lake.uri("grouped_daily_bars", S1))
    before = path.read_bytes()
    replacement = sample_frame("grouped_daily_bars", S1, rows=7, seed=5)

    bad = replacement.copy()
    bad["volume"] = [{"not": "a float"}] * len(bad)
    with pytest.raises(SchemaError, match="column 'volume'"):
        local_lake.write("grouped_daily_bars", S1, bad)

    # Fails inside the temporary file, before a single Parquet byte is written.
    with pytest.raises(TypeError):
        local_lake.write("grouped_daily_bars", S1, replacement, provenance={"etag": object()})

    # Fails after the whole temporary file is written: a disk error on fsync.
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error (injected)")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", broken_fsync)
        with pytest.raises(OSError, match="injected"):
            local_lake.write("grouped_daily_bars", S1, replacement)

    assert path.read_bytes() == before
    assert litter(Path(local_lake.root)) == []
    # The lake still works, and the good write replaces the file.
    local_lake.write("grouped_daily_bars", S1, replacement)
    assert local_lake.read("grouped_daily_bars", S1).num_rows == 7
    assert litter(Path(local_lake.root)) == []


def test_failed_s3_write_leaves_the_old_object(s3_lake: Lake) -> None:
    s3_lake.write("rest_fills", S1, sample_frame("rest_fills", S1))
    key = f"some/prefix/rest_fills/session=2024-03-04/{FILE_NAME}"
    before = s3_lake.s3.get_object(Bucket=s3_lake.bucket, Key=key)["Body"].read()
    with pytest.raises(SessionMismatch):
        s3_lake.write("rest_fills", S1, sample_frame("rest_fills", S2))
    with pytest.raises(TypeError):
        s3_lake.write("rest_fills", S1, sample_frame("rest_fills", S1, 9), provenance={"x": 1})
    assert s3_lake.s3.get_object(Bucket=s3_lake.bucket, Key=key)["Body"].read() == before
    keys = [o["Key"] for o in s3_lake.s3.list_objects_v2(Bucket=s3_lake.bucket)["Contents"]]
    assert keys == [key]


def test_s3_errors_name_the_uri_and_not_the_secret(s3) -> None:
    _, client = s3
    lake = Lake("s3://no-such-bucket-here/p", s3_client=client)
    with pytest.raises(LakeError) as excinfo:
        lake.write("rest_fills", S1, sample_frame("rest_fills", S1))
    message = str(excinfo.value)
    assert "s3://no-such-bucket-here/p/rest_fills/session=2024-03-04/part-0.parquet" in message
    assert "NoSuchBucket" in message
    assert MOTO_KEYS["aws_secret_access_key"] not in message


def test_identical_input_gives_identical_bytes(tmp_path: Path, s3_lake: Lake) -> None:
    frame = sample_frame("flat_file_minute_aggs", S1, rows=50)
    first, second = Lake(str(tmp_path / "a")), Lake(str(tmp_path / "b"))
    first.write("flat_file_minute_aggs", S1, frame)
    second.write("flat_file_minute_aggs", S1, first.conform("flat_file_minute_aggs", frame))
    s3_lake.write("flat_file_minute_aggs", S1, frame)
    path = Path(first.uri("flat_file_minute_aggs", S1))
    original = path.read_bytes()
    first.write("flat_file_minute_aggs", S1, frame)  # re-materializing the same partition

    assert path.read_bytes() == original
    assert Path(second.uri("flat_file_minute_aggs", S1)).read_bytes() == original
    key = f"some/prefix/flat_file_minute_aggs/session=2024-03-04/{FILE_NAME}"
    assert s3_lake.s3.get_object(Bucket=s3_lake.bucket, Key=key)["Body"].read() == original


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
    with pytest.raises(LakeError, match="is not a readable Parquet file") as excinfo:
        local_lake.read("rest_fills", S1)
    assert str(path) in str(excinfo.value)


def test_stored_sessions_ignores_temp_files_and_non_sessions(
    local_lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    local_lake.write("daily_bars", S2, sample_frame("daily_bars", S2))
    base = Path(local_lake.root) / "daily_bars"
    (base / "session=2024-03-04").mkdir()
    (base / "session=2024-03-04" / ".part-0.abc.tmp").write_bytes(b"half")
    for name in ("session=2024-03-09", "session=garbage"):
        (base / name).mkdir()
        (base / name / FILE_NAME).write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger=lake_module.__name__):
        assert local_lake.stored_sessions("daily_bars") == [S2]
    warned = caplog.text
    assert "session=2024-03-09" in warned and "session=garbage" in warned
    assert local_lake.stored_sessions("no_such_dataset_yet") == []


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


def test_rewriting_identical_content_leaves_the_file_untouched(tmp_path):
    lake = Lake(str(tmp_path))
    session = dt.date(2024, 12, 24)
    frame = _unchanged_probe_frame(session)
    first = lake.write("splits", session, frame)
    path = Path(first.uri)
    stamp = path.stat().st_mtime_ns
    os.utime(path, ns=(stamp - 10**9, stamp - 10**9))  # make any rewrite visible in mtime
    again = lake.write("splits", session, frame)
    assert first.changed and not again.changed
    assert path.stat().st_mtime_ns == stamp - 10**9
    changed = lake.write("splits", session, frame.assign(split_to=[3.0]))
    assert changed.changed
    assert lake.read("splits", session).column("split_to").to_pylist() == [3.0]


def _unchanged_probe_frame(session):
    return pd.DataFrame(
        {
            "session": [session],
            "ticker": ["AAPL"],
            "execution_date": [session],
            "split_from": [1.0],
            "split_to": [2.0],
            "id": ["s1"],
        }
    )


def test_a_write_removes_temp_files_that_dead_writers_left(tmp_path):
    lake = Lake(str(tmp_path))
    session = dt.date(2024, 12, 24)
    frame = _unchanged_probe_frame(session)
    directory = Path(lake.write("splits", session, frame).uri).parent
    stale = directory / ".part-0.deadwriter.tmp"
    fresh = directory / ".part-0.livewriter.tmp"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"being written")
    old = time.time() - lake_module.STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    assert not lake.write("splits", session, frame).changed  # a rerun with the same bytes
    assert not stale.exists()
    assert fresh.exists()  # a live writer's file is left alone
    assert lake.stored_sessions("splits") == [session]
