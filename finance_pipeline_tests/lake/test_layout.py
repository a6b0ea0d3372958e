"""The lake's layout: paths, session directories, and listing what is stored."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from finance_pipeline import lake as lake_module
from finance_pipeline.calendar import SessionError
from finance_pipeline.lake import Lake, layout
from finance_pipeline.lake.layout import FILE_NAME
from finance_pipeline_tests.lake.support import S2, sample_frame

# ------------------------------------------------------------------------------------ listing


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


def test_s3_listing_takes_only_session_files_of_the_wanted_datasets(
    s3_lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    s3_lake.write("daily_bars", S2, sample_frame("daily_bars", S2))
    s3_lake.write("splits", None, sample_frame("splits", S2))
    client, bucket = s3_lake.s3, s3_lake.bucket
    for key in (
        f"some/prefix/daily_bars/session=2024-03-09/{FILE_NAME}",  # a Saturday
        "some/prefix/daily_bars/session=2024-03-04/.part-0.abc.tmp",
        f"some/prefix/daily_bars/session=2024-03-04/nested/{FILE_NAME}",
        f"some/prefix/daily_bars_old/session=2024-03-04/{FILE_NAME}",
    ):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    with caplog.at_level(logging.WARNING, logger=lake_module.__name__):
        found = layout.s3_session_objects(client, bucket, "some/prefix", ["daily_bars", "splits"])
    assert [(o.dataset, o.session, o.relative) for o in found] == [
        ("daily_bars", S2, f"daily_bars/session=2024-03-05/{FILE_NAME}")
    ]
    assert found[0].key == f"some/prefix/{found[0].relative}"
    assert "session=2024-03-09" in caplog.text
    assert s3_lake.stored_sessions("daily_bars") == [S2]


# ------------------------------------------------------------------------------------ names


def test_paths_and_session_directories() -> None:
    assert layout.relative_path("daily_bars", S2) == f"daily_bars/session=2024-03-05/{FILE_NAME}"
    assert layout.relative_path("splits", None) == f"splits/{FILE_NAME}"
    assert layout.session_glob("daily_bars") == f"daily_bars/session=*/{FILE_NAME}"
    assert layout.session_of_dir(layout.session_dir(S2)) == S2
    assert layout.session_of_dir(layout.COMPACT_DIR) is None
    for bad in ("session=2024-03-09", "session=2024-3-5", "session=garbage"):
        with pytest.raises(SessionError):
            layout.session_of_dir(bad)
    assert layout.split_s3_root("s3://bucket/a/b/") == ("bucket", "a/b")
    assert layout.s3_root("bucket", "") == "s3://bucket"
    with pytest.raises(ValueError, match="has no bucket"):
        layout.split_s3_root("s3:///prefix")


def test_temp_files_sit_beside_their_target_and_are_found(tmp_path: Path) -> None:
    target = tmp_path / layout.relative_path("daily_bars", S2)
    first, second = layout.temp_path(target), layout.temp_path(target)
    assert first != second and first.parent == target.parent
    target.parent.mkdir(parents=True)
    first.write_bytes(b"half")
    assert layout.temp_paths(target) == [first]
    assert layout.local_session_files(tmp_path, "daily_bars") == []
