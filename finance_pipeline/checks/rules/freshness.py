"""Freshness rules: when a source's newest session is due in the lake, and the verdict on it.

A Polygon source publishes relative to the session's close (grouped daily and reference data:
the same evening; flat files: about 11:00 New York the next day), and half days close at 13:00,
so each source has a publication rule computed on the NYSE calendar. A late source is not bad
data: the verdict is a WARN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from finance_pipeline.calendar import (
    NEW_YORK,
    latest_completed_session,
    previous_session,
    session_close,
)
from finance_pipeline.checks.rules.verdicts import Verdict
from finance_pipeline.registry import (
    DIVIDENDS,
    FLAT_FILE_DAY_AGGS,
    FLAT_FILE_MINUTE_AGGS,
    GROUPED_DAILY_BARS,
    SPLITS,
    UNIVERSE_SNAPSHOT,
)


@dataclass(frozen=True)
class PublicationRule:
    """When a source's data for a session is due in the lake."""

    asset: str
    due: Callable[[dt.date], dt.datetime]  # session -> aware deadline
    text: str


def after_close(margin: dt.timedelta) -> Callable[[dt.date], dt.datetime]:
    """Due `margin` after the session's regular close (13:00 New York on half days)."""
    return lambda session: session_close(session) + margin


def next_day_at(local: dt.time, margin: dt.timedelta) -> Callable[[dt.date], dt.datetime]:
    """Due at `local` New York time on the calendar day after the session, plus `margin`."""

    def due(session: dt.date) -> dt.datetime:
        day = session + dt.timedelta(days=1)
        return dt.datetime.combine(day, local, NEW_YORK).astimezone(dt.UTC) + margin

    return due


# Grouped daily / reference data: after the close (the free plan can lag into the evening).
_EVENING = after_close(dt.timedelta(hours=4))
# Flat files: published by ~11:00 New York the next day; 2 hours of margin for the pipeline.
_FLAT_FILES = next_day_at(dt.time(11, 0), dt.timedelta(hours=2))

# The check's name on every source, and the schedule that alone evaluates it (its UI name).
FRESHNESS_CHECK_NAME = "fresh"
FRESHNESS_SCHEDULE_NAME = "freshness_checks_hourly"

RULES: tuple[PublicationRule, ...] = (
    PublicationRule(GROUPED_DAILY_BARS, _EVENING, "session close + 4h"),
    PublicationRule(UNIVERSE_SNAPSHOT, _EVENING, "session close + 4h"),
    PublicationRule(SPLITS, _EVENING, "session close + 4h"),
    PublicationRule(DIVIDENDS, _EVENING, "session close + 4h"),
    PublicationRule(FLAT_FILE_DAY_AGGS, _FLAT_FILES, "next day 11:00 New York + 2h"),
    PublicationRule(FLAT_FILE_MINUTE_AGGS, _FLAT_FILES, "next day 11:00 New York + 2h"),
)


def expected_session(rule: PublicationRule, now: dt.datetime) -> dt.date:
    """The newest session whose deadline has passed by `now`."""
    session = latest_completed_session(now)
    while rule.due(session) > now:
        session = previous_session(session)
    return session


def freshness_verdict(
    rule: PublicationRule, now: dt.datetime, stored: Callable[[dt.date], bool]
) -> Verdict:
    """Passed when the expected session is stored; otherwise WARN with how late it is."""
    session = expected_session(rule, now)
    deadline = rule.due(session)
    meta: dict[str, object] = {
        "expected_session": session.isoformat(),
        "deadline": deadline.astimezone(NEW_YORK).isoformat(),
        "rule": rule.text,
    }
    if stored(session):
        return Verdict.ok(f"{rule.asset} {session} is stored (due {meta['deadline']})", **meta)
    overdue = (now - deadline).total_seconds()
    meta["overdue_seconds"] = float(overdue)
    return Verdict.warn(
        f"{rule.asset} {session} is not stored; it was due {meta['deadline']} "
        f"({rule.text}), {overdue / 3600:.1f} hours ago",
        **meta,
    )
