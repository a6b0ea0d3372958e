"""Status coverage comes from the lake: sessions, gaps, footer rows, curated sources; the text
shows them in one line per dataset."""

from __future__ import annotations

from pathlib import Path

from finance_pipeline.lake import Lake
from finance_pipeline.status import Status, format_status, lake_coverage
from finance_pipeline_tests.warehouse.support import SESSIONS, bars, closes_for


def test_coverage_counts_sessions_gaps_rows_and_sources(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    stored = [SESSIONS[0], SESSIONS[1], SESSIONS[3]]
    for index, session in enumerate(stored):
        source = "grouped_daily_bars" if index == 1 else "flat_file_day_aggs"
        lake.write("daily_bars", session, bars(session, closes_for(index), source=source))
    daily, minute = lake_coverage(lake, ["daily_bars", "minute_bars"])
    assert (daily.sessions, daily.first, daily.last) == (3, SESSIONS[0], SESSIONS[3])
    assert daily.missing == (SESSIONS[2],)
    assert daily.rows == 9
    assert daily.sources == {"flat_file_day_aggs": 2, "grouped_daily_bars": 1}
    assert (minute.sessions, minute.rows, minute.first) == (0, 0, None)

    text = format_status(Status(lake.root, (daily, minute), (), ()))
    assert f"daily_bars                      3            9  {SESSIONS[0]} .. {SESSIONS[3]}" in text
    assert f"1 ({SESSIONS[2]})" in text
    assert "daily_bars sessions per source: flat_file_day_aggs 2, grouped_daily_bars 1" in text
    assert "checks (latest per partition): 0 passed, 0 failed, 0 without a verdict" in text
