"""Folding per-session verdicts of a range run into one check result."""

from __future__ import annotations

import datetime as dt

from finance_pipeline.checks.rules.verdicts import Severity, Verdict, combine

A, B, C = dt.date(2025, 1, 13), dt.date(2025, 1, 14), dt.date(2025, 1, 15)


def test_a_single_session_keeps_its_verdict() -> None:
    verdict = Verdict.warn("drift", mismatched=2)
    assert combine({A: verdict}) is verdict


def test_passing_sessions_sum_counts_and_keep_the_worst_numbers() -> None:
    verdicts = {
        A: Verdict.ok("a", rows_compared=10, max_rel_diff=1e-5, coverage_share=0.99, note="x"),
        B: Verdict.ok("b", rows_compared=12, max_rel_diff=3e-5, coverage_share=0.95, note="y"),
    }
    result = combine(verdicts)
    assert result.passed
    assert result.metadata["rows_compared"] == 22
    assert result.metadata["max_rel_diff"] == 3e-5
    assert result.metadata["coverage_share"] == 0.95
    assert result.metadata["sessions"] == 2 and "note" not in result.metadata


def test_an_error_in_any_session_fails_the_range_at_error() -> None:
    verdicts = {
        A: Verdict.ok("fine", offenders=""),
        B: Verdict.warn("drift", offenders="SPY"),
        C: Verdict.error("prices differ", offenders="NVDA"),
    }
    result = combine(verdicts)
    assert not result.passed and result.severity is Severity.ERROR
    assert result.metadata["failed_sessions"] == 2
    assert result.metadata["worst_session"] == C.isoformat()
    assert result.metadata["offenders"] == "NVDA"
    assert str(B) in result.description and str(C) in result.description
