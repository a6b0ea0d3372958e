"""Cutting targets into runs: contiguous ranges, run sizes, shared runs."""

import datetime as dt

from finance_pipeline.calendar import sessions_between
from finance_pipeline.runs.specs import RunSpec, contiguous, run_specs

JAN = sessions_between(dt.date(2025, 1, 2), dt.date(2025, 1, 31))


def test_contiguous_breaks_only_where_a_session_is_left_out():
    # 2025-01-09 is a one-off closure: it does not break a range of sessions.
    days = [dt.date(2025, 1, 8), dt.date(2025, 1, 10), dt.date(2025, 1, 14)]
    assert contiguous(days) == [[dt.date(2025, 1, 8), dt.date(2025, 1, 10)], [dt.date(2025, 1, 14)]]
    assert contiguous([]) == []


def test_assets_with_the_same_sessions_and_run_size_share_runs():
    specs = run_specs({"a": JAN[:3], "b": JAN[:3], "c": JAN[:3]}, {"a": 1, "b": 1, "c": 10})
    assert [spec.assets for spec in specs] == [("a", "b")] * 3 + [("c",)]
    assert specs[-1].sessions == tuple(JAN[:3])


def test_ranges_are_cut_to_the_run_size_and_carry_the_run_config():
    config = {"ops": {"a": {"config": {"tickers": ["X"]}}}}
    specs = run_specs({"a": JAN}, {"a": 8}, config)
    assert [len(spec.sessions) for spec in specs] == [8, 8, 4]
    assert {spec.sessions[0] for spec in specs} == {JAN[0], JAN[8], JAN[16]}
    assert all(spec.run_config == config for spec in specs)


def test_labels_name_assets_and_span():
    assert RunSpec(("a",), (JAN[0],)).label() == "a 2025-01-02"
    assert RunSpec(("a", "b"), tuple(JAN[:2])).label() == "a, b 2025-01-02..2025-01-03 (2 sessions)"
