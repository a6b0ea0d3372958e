"""The warehouse finds the lake's session files through the lake's own layout code."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from finance_pipeline.lake import Lake
from finance_pipeline.lake.layout import FILE_NAME
from finance_pipeline.warehouse import Warehouse, scan_lake
from finance_pipeline_tests.warehouse.support import SESSIONS, bars, closes_for


def test_the_warehouse_sees_the_sessions_the_lake_lists(
    lake: Lake, caplog: pytest.LogCaptureFixture
) -> None:
    for index, session in enumerate(SESSIONS[:3]):
        lake.write("daily_bars", session, bars(session, closes_for(index)))
    base = Path(lake.root) / "daily_bars"
    (base / f"session={SESSIONS[0]}" / ".part-0.dead.tmp").write_bytes(b"half")
    for name in ("session=2024-03-09", "session=garbage"):  # a Saturday, not a date
        (base / name).mkdir()
        (base / name / FILE_NAME).write_bytes(b"x")
    with caplog.at_level(logging.WARNING):
        files = scan_lake(Path(lake.root), ["daily_bars", "minute_bars"])
    assert [f.session for f in files["daily_bars"]] == lake.stored_sessions("daily_bars")
    assert [f.session for f in files["daily_bars"]] == SESSIONS[:3]
    assert files["minute_bars"] == []
    assert "session=2024-03-09" in caplog.text and "session=garbage" in caplog.text
    with Warehouse(lake.root) as warehouse:
        days = warehouse.query("SELECT DISTINCT session FROM daily_bars ORDER BY 1")
    assert days.column("session").to_pylist() == SESSIONS[:3]
