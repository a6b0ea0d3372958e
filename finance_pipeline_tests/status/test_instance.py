"""Costs read back from a real instance: a range run's totals counted once, not per session."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from finance_pipeline.assets import flat_file_day_aggs
from finance_pipeline.calendar import sessions_between
from finance_pipeline.status.instance import asset_costs
from finance_pipeline_tests.assets.support import run, sandbox_resources

FIRST, LAST = dt.date(2025, 1, 6), dt.date(2025, 1, 13)


def test_a_range_runs_costs_are_its_totals(sandbox, tmp_path) -> None:
    sessions = sessions_between(FIRST, LAST)
    before = sandbox.counters.s3_gets
    with dg.instance_for_test() as instance:
        run(
            [flat_file_day_aggs],
            sandbox_resources(sandbox, tmp_path),
            sessions=(FIRST, LAST),
            instance=instance,
        )
        gets = sandbox.counters.s3_gets - before
        costs = asset_costs(instance, dg.AssetKey("flat_file_day_aggs"))
        # One more single-session run replaces one partition: 1 GET of its own, and the range
        # run's totals shared over the sessions it still holds.
        run(
            [flat_file_day_aggs],
            sandbox_resources(sandbox, tmp_path),
            session=LAST,
            instance=instance,
        )
        after = asset_costs(instance, dg.AssetKey("flat_file_day_aggs"))
    assert gets == len(sessions)
    assert (costs.partitions, costs.s3_gets, costs.api_calls) == (len(sessions), gets, 0)
    assert costs.calls_saved == costs.old_path_calls > len(sessions)
    assert after.s3_gets == round(gets * (len(sessions) - 1) / len(sessions)) + 1
