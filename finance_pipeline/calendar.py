"""NYSE trading sessions (exchange_calendars XNYS); plain Python (the Dagster partitions built
on them are in `finance_pipeline.partitions`).

A *session* is a `datetime.date` on which NYSE traded. Weekends, holidays and one-off closures
(2012-10-29/30, 2018-12-05, 2025-01-09, ...) are not sessions; half days are.
Everything that turns a person's or a file's date into a session goes through `parse_session`.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd

NEW_YORK = ZoneInfo("America/New_York")
UTC = dt.UTC
# Polygon's stock flat files start here; it is also the first partition.
FIRST_SESSION = dt.date(2003, 9, 10)


class SessionError(ValueError):
    """A date that cannot be used as a trading session, with the reason in the message."""


@lru_cache(maxsize=1)
def xnys() -> xcals.ExchangeCalendar:
    return xcals.get_calendar("XNYS", start=FIRST_SESSION.isoformat())


@lru_cache(maxsize=1)
def _session_index() -> pd.DatetimeIndex:
    return xnys().sessions


def last_known_session() -> dt.date:
    """The last session the calendar knows (about a year ahead of today)."""
    return _session_index()[-1].date()


def is_session(day: dt.date) -> bool:
    if not FIRST_SESSION <= day <= last_known_session():
        return False
    return pd.Timestamp(day) in _session_index()


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """Sessions in [start, end], both ends inclusive; empty when end < start."""
    if end < start:
        return []
    index = _session_index()
    lo = index.searchsorted(pd.Timestamp(start), side="left")
    hi = index.searchsorted(pd.Timestamp(end), side="right")
    return [ts.date() for ts in index[lo:hi]]


def session_open(session: dt.date) -> dt.datetime:
    """The regular-hours open (aware, UTC)."""
    return xnys().session_open(pd.Timestamp(session)).to_pydatetime()


def session_close(session: dt.date) -> dt.datetime:
    """The regular-hours close (aware, UTC): 16:00 New York, 13:00 on half days."""
    return xnys().session_close(pd.Timestamp(session)).to_pydatetime()


def regular_hours(start: dt.date, end: dt.date) -> pd.DataFrame:
    """Sessions in [start, end] with their regular-hours `open` and `close` (aware UTC), from
    the calendar's schedule in one step (13:00 New York closes on half days)."""
    schedule = xnys().schedule.loc[pd.Timestamp(start) : pd.Timestamp(end), ["open", "close"]]
    return pd.DataFrame(
        {
            "session": [ts.date() for ts in schedule.index],
            "open": schedule["open"].to_numpy(),
            "close": schedule["close"].to_numpy(),
        }
    )


def is_half_day(session: dt.date) -> bool:
    return session_close(session).astimezone(NEW_YORK).hour < 16


def previous_session(day: dt.date) -> dt.date:
    """The last session strictly before `day` (a session or not)."""
    index = _session_index()
    pos = index.searchsorted(pd.Timestamp(day), side="left")
    if pos == 0:
        raise SessionError(f"{day} has no earlier session (history starts {FIRST_SESSION})")
    return index[pos - 1].date()


def next_session(day: dt.date) -> dt.date:
    """The first session strictly after `day` (a session or not)."""
    index = _session_index()
    pos = index.searchsorted(pd.Timestamp(day), side="right")
    if pos >= len(index):
        raise SessionError(f"{day} is past the end of the NYSE calendar ({last_known_session()})")
    return index[pos].date()


def new_york_date(moment: dt.datetime) -> dt.date:
    """The New York calendar date of an aware moment."""
    if moment.tzinfo is None:
        raise ValueError("expected an aware datetime; naive times are ambiguous")
    return moment.astimezone(NEW_YORK).date()


def latest_completed_session(now: dt.datetime) -> dt.date:
    """The newest session whose regular close is at or before `now`."""
    today = new_york_date(now)
    if is_session(today) and session_close(today) <= now:
        return today
    return previous_session(today)


def newest_partition(now: dt.datetime) -> dt.date:
    """The newest session partition at `now`: partitions open at 00:00 New York the day after
    their session (end_offset=0), so it is the last session before today in New York."""
    return previous_session(new_york_date(now))


def recent_sessions(now: dt.datetime, count: int) -> list[dt.date]:
    """The newest `count` sessions whose partitions exist at `now` (oldest first)."""
    if count < 1:
        raise ValueError(f"count must be positive, got {count}")
    try:
        last = newest_partition(now)
    except SessionError:
        return []
    # Two calendar days per session plus two weeks is more than any run of closures needs.
    return sessions_between(last - dt.timedelta(days=2 * count + 14), last)[-count:]


def parse_session(value: str | dt.date, *, now: dt.datetime | None = None) -> dt.date:
    """Turn a person's or a file's date into a session, or raise SessionError saying why.

    With `now`, a session that has not closed yet by `now` is refused as well.
    """
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise SessionError(f"{value!r} is not a date in YYYY-MM-DD form") from None
    else:
        day = value
    if day < FIRST_SESSION:
        raise SessionError(f"{day} is before the first session in the lake ({FIRST_SESSION})")
    if day > last_known_session():
        raise SessionError(f"{day} is past the end of the NYSE calendar ({last_known_session()})")
    if not is_session(day):
        reason = "a weekend" if day.weekday() >= 5 else "an NYSE holiday or closure"
        raise SessionError(f"{day} is not an NYSE trading session ({reason})")
    if now is not None and session_close(day) > now:
        raise SessionError(f"{day} is in the future: the session has not closed yet")
    return day


def parse_session_range(
    start: str | dt.date, end: str | dt.date, *, now: dt.datetime | None = None
) -> list[dt.date]:
    """Sessions from start to end inclusive. The ends may be non-sessions; the range may not be
    empty, reversed, or reach past `now`'s latest completed session."""
    try:
        lo = dt.date.fromisoformat(start) if isinstance(start, str) else start
        hi = dt.date.fromisoformat(end) if isinstance(end, str) else end
    except ValueError as exc:
        raise SessionError(f"bad date ({exc}); use YYYY-MM-DD") from None
    if hi < lo:
        raise SessionError(f"END {hi} is before START {lo}")
    if lo < FIRST_SESSION:
        raise SessionError(f"{lo} is before the first session in the lake ({FIRST_SESSION})")
    if now is not None and hi > latest_completed_session(now):
        raise SessionError(
            f"END {hi} is in the future: the latest completed session is "
            f"{latest_completed_session(now)}"
        )
    sessions = sessions_between(lo, hi)
    if not sessions:
        raise SessionError(f"there is no NYSE trading session between {lo} and {hi}")
    return sessions


def partition_key(session: dt.date) -> str:
    return session.isoformat()


def session_from_partition_key(key: str, *, now: dt.datetime | None = None) -> dt.date:
    """A partition key back to a session, refusing keys that are not partitions (now).

    Same answer as the partitions definition's `has_partition_key`, without building its
    partition windows: a session whose New York day has ended (end_offset=0)."""
    try:
        day = dt.date.fromisoformat(key)
    except (TypeError, ValueError):
        day = None
    if day is None or day.isoformat() != key or not is_session(day):
        raise SessionError(f"partition key {key!r} is not an NYSE trading session")
    if day >= new_york_date(now or dt.datetime.now(UTC)):
        raise SessionError(f"partition key {key!r} is a session that has not ended yet")
    return day
