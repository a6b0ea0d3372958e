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
