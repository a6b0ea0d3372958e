"""The in-process runner holds back downstream sessions whose upstream run failed (an asset
step, or a blocking check such as row_count): Dagster only skips them inside one run."""

import datetime as dt

from finance_pipeline.calendar import sessions_between
from finance_pipeline.runs.execute import hold_back
from finance_pipeline.runs.specs import RunSpec

DAYS = tuple(sessions_between(dt.date(2025, 1, 13), dt.date(2025, 1, 17)))
PARENTS = {"daily_bars": {"flat_file_day_aggs", "grouped_daily_bars"}}


def test_sessions_of_a_failed_upstream_run_are_held_back_and_the_rest_still_run():
    spec = RunSpec(("daily_bars",), DAYS)
    failed = {"flat_file_day_aggs": {DAYS[1], DAYS[3]}}

    held, runs = hold_back(spec, PARENTS, failed)

    assert held is not None and not held.success
    assert held.spec.sessions == (DAYS[1], DAYS[3])
    assert "held back" in held.describe() and "flat_file_day_aggs" in held.describe()
    assert [run.sessions for run in runs] == [(DAYS[0],), (DAYS[2],), (DAYS[4],)]


def test_nothing_is_held_back_without_a_failed_upstream():
    spec = RunSpec(("daily_bars",), DAYS)
    assert hold_back(spec, PARENTS, {"daily_bars": set(DAYS)}) == (None, [spec])
