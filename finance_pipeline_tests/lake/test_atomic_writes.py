"""Every lake write is atomic and idempotent: a failed write leaves the old file, identical
input gives identical bytes and leaves the file alone, dead writers' temp files are cleaned."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from finance_pipeline.lake import Lake, LakeError, SessionMismatch
from finance_pipeline.lake.layout import FILE_NAME
from finance_pipeline.lake.local import STALE_TEMP_SECONDS
from finance_pipeline.schemas import SchemaError
from finance_pipeline_tests.lake.support import S1, S2, litter, sample_frame
from finance_pipeline_tests.moto_s3 import MOTO_KEYS

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
    assert keys == ["some/prefix/_manifests/rest_fills/session=2024-03-04.json", key]


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
            "adjustment_type": ["forward_split"],
            "historical_adjustment_factor": [0.5],
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
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    assert not lake.write("splits", session, frame).changed  # a rerun with the same bytes
    assert not stale.exists()
    assert fresh.exists()  # a live writer's file is left alone
    assert lake.stored_sessions("splits") == [session]
