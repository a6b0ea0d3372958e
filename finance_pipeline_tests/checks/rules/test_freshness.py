"""Freshness rules: publication deadlines on the NYSE calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from finance_pipeline.calendar import NEW_YORK
from finance_pipeline.checks.rules.freshness import RULES, expected_session, freshness_verdict
from finance_pipeline.checks.rules.verdicts import Severity

RULE = {rule.asset: rule for rule in RULES}


def ny(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("asset", "now", "expected"),
    [
        # Grouped daily is due 4 hours after the close.
        ("grouped_daily_bars", ny(2024, 3, 5, 19, 59), dt.date(2024, 3, 4)),
        ("grouped_daily_bars", ny(2024, 3, 5, 20, 0), dt.date(2024, 3, 5)),
        # Half day (close 13:00): due at 17:00.
        ("grouped_daily_bars", ny(2024, 7, 3, 17, 1), dt.date(2024, 7, 3)),
        # Over a weekend and a holiday (2024-07-04): still the last session.
        ("grouped_daily_bars", ny(2024, 7, 7, 9, 0), dt.date(2024, 7, 5)),
        # Flat files: next calendar day 11:00 + 2h.
        ("flat_file_day_aggs", ny(2024, 3, 6, 12, 59), dt.date(2024, 3, 4)),
        ("flat_file_day_aggs", ny(2024, 3, 6, 13, 0), dt.date(2024, 3, 5)),
        ("flat_file_minute_aggs", ny(2024, 3, 9, 13, 30), dt.date(2024, 3, 8)),  # Sat for Fri
        ("flat_file_minute_aggs", ny(2024, 3, 9, 12, 0), dt.date(2024, 3, 7)),
    ],
)
def test_expected_session(asset: str, now: dt.datetime, expected: dt.date) -> None:
    assert expected_session(RULE[asset], now) == expected


def test_verdict_names_the_missing_session_and_how_late() -> None:
    now = ny(2024, 3, 6, 15, 0)
    rule = RULE["flat_file_day_aggs"]
    late = freshness_verdict(rule, now, lambda session: False)
    assert not late.passed and late.severity is Severity.WARN
    assert late.metadata["expected_session"] == "2024-03-05"
    assert late.metadata["overdue_seconds"] == pytest.approx(2 * 3600)
    assert "2024-03-05" in late.description
    fresh = freshness_verdict(rule, now, lambda session: session == dt.date(2024, 3, 5))
    assert fresh.passed
