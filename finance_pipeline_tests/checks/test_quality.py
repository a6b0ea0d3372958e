"""Evaluating the quality rules on a partition stored in a lake."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from finance_pipeline.calendar import NEW_YORK, previous_session
from finance_pipeline.checks.quality import evaluate_partition
from finance_pipeline.lake import Lake


def test_curated_row_count_compares_only_sessions_of_the_same_source(tmp_path):
    """A watchlist-only REST session is not judged against whole-market flat-file sessions."""
    lake = Lake(str(tmp_path))
    session = dt.date(2024, 12, 20)
    day = session
    for _ in range(5):
        day = previous_session(day)
        lake.write(
            "minute_bars", day, _minute_frame(day, tickers=40, source="flat_file_minute_aggs")
        )
    lake.write("minute_bars", session, _minute_frame(session, tickers=2, source="rest_fills"))
    verdict = evaluate_partition(lake, "minute_bars", session)["row_count"]
    assert verdict.passed, verdict.description
    lake.write("minute_bars", day, _minute_frame(day, tickers=40, source="rest_fills"))
    verdict = evaluate_partition(lake, "minute_bars", session)["row_count"]
    assert not verdict.passed  # now a same-source session with far more rows exists


def _minute_frame(session, tickers: int, source: str):
    start = pd.Timestamp(dt.datetime.combine(session, dt.time(9, 30), NEW_YORK)).tz_convert("UTC")
    rows = [(f"T{i}", start + pd.Timedelta(minutes=m)) for i in range(tickers) for m in range(3)]
    frame = pd.DataFrame(rows, columns=["ticker", "window_start"])
    return frame.assign(
        session=session,
        open=10.0,
        high=11.0,
        low=9.0,
        close=10.5,
        volume=100.0,
        vwap=10.2,
        transactions=5,
        source=source,
    )
