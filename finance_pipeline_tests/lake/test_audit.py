"""The audit of write-audit-publish, and the quarantine it keeps refused files in."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from finance_pipeline.assets.common import new_york_midnight
from finance_pipeline.lake import Lake
from finance_pipeline.lake.audit import SHRINK_TOLERANCE, Stored, audit
from finance_pipeline.lake.publish import PartitionRefused, accept, publish_sessions
from finance_pipeline.lake.quarantine import listing
from finance_pipeline_tests.lake.support import S1, sample_frame

GROUPED = "grouped_daily_bars"


def bars(session: dt.date, rows: int) -> pd.DataFrame:
    frame = sample_frame(GROUPED, session, rows)
    frame["ticker"] = [f"T{i:03d}" for i in range(rows)]
    frame["window_start"] = new_york_midnight(session)
    for column in ("open", "high", "low", "close", "volume"):
        frame[column] = 10.0
    return frame


def test_audit_refuses_shrinking_beyond_the_tolerance_and_impossible_bars(local_lake: Lake):
    table = local_lake.conform(GROUPED, bars(S1, 50))
    assert audit(GROUPED, S1, table, Stored(50, 50), []) is None
    within = int(50 * (1 - SHRINK_TOLERANCE))
    small = local_lake.conform(GROUPED, bars(S1, within))
    assert audit(GROUPED, S1, small, Stored(50, 50), []) is None
    half = local_lake.conform(GROUPED, bars(S1, 20))
    assert "from 50 to 20 rows" in (audit(GROUPED, S1, half, Stored(50, 50), []) or "")
    assert "under 50% of the median" in (audit(GROUPED, S1, half, None, [50] * 5) or "")
    broken = bars(S1, 50)
    broken.loc[0, "low"] = 11.0  # low above open
    message = audit(GROUPED, S1, local_lake.conform(GROUPED, broken), None, []) or ""
    assert "impossible bars" in message


def test_a_refused_file_is_quarantined_the_stored_one_kept_and_accept_publishes_it(
    local_lake: Lake,
):
    publish_sessions(local_lake, GROUPED, bars(S1, 40), [S1])
    path = Path(local_lake.uri(GROUPED, S1))
    before = path.read_bytes()

    with pytest.raises(PartitionRefused, match="from 40 to 0 rows"):
        publish_sessions(local_lake, GROUPED, bars(S1, 40).iloc[:0], [S1])

    assert path.read_bytes() == before
    (held,) = listing(local_lake.storage)
    assert (held.dataset, held.session, held.rows, held.stored_rows) == (GROUPED, str(S1), 0, 40)
    accept(local_lake, GROUPED, S1)
    assert local_lake.read(GROUPED, S1).num_rows == 0
    assert local_lake.check(GROUPED, S1) is None
    assert listing(local_lake.storage) == []


MINUTE = "flat_file_minute_aggs"


def minute_bars(session: dt.date, rows: int) -> pd.DataFrame:
    """Valid minute bars from 04:00 New York on, one ticker a minute."""
    frame = sample_frame(MINUTE, session, rows)
    frame["ticker"] = [f"T{i % 7}" for i in range(rows)]
    four = pd.Timestamp(dt.datetime.combine(session, dt.time(4)), tz="America/New_York")
    frame["window_start"] = [four + pd.Timedelta(minutes=i) for i in range(rows)]
    for column in ("open", "high", "low", "close", "volume"):
        frame[column] = 10.0
    frame["high"] = 11.0
    return frame


def test_the_arrow_prefilter_keeps_every_row_the_bar_rules_flag(local_lake: Lake):
    """The audit runs the pandas rules on the rows Arrow finds suspect only; the verdicts on
    a minute table with one row of every defect must be those of the rules on all rows."""
    from finance_pipeline.checks.rules import quality
    from finance_pipeline.lake.audit import row_problems, suspects

    frame = minute_bars(S1, 40)
    assert row_problems(MINUTE, S1, local_lake.conform(MINUTE, frame)) == []
    frame.loc[1, "low"] = 10.5  # low above open and close
    frame.loc[2, "volume"] = -1.0
    frame.loc[3, "close"] = float("nan")
    frame.loc[4, "open"] = None
    frame.loc[5, "volume"] = None
    late = pd.Timestamp(dt.datetime.combine(S1, dt.time(20)), tz="America/New_York")
    frame.loc[6, "window_start"] = late  # 20:00 is past the extended session
    frame.loc[7, "window_start"] = late - pd.Timedelta(days=1)
    table = local_lake.conform(MINUTE, frame)
    assert sorted(suspects(table, S1, "minute")["ticker"].to_pylist()) == sorted(
        frame.loc[1:7, "ticker"]
    )
    whole = table.to_pandas()
    expected = [
        v.description
        for v in (
            quality.bar_invariants_verdict(whole),
            quality.session_window_verdict(whole, S1, "minute"),
        )
        if not v.passed
    ]
    assert len(expected) == 2
    assert row_problems(MINUTE, S1, table) == expected
