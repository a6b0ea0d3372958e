import datetime as dt

import pytest

from finance_pipeline import calendar as cal
from finance_pipeline.partitions import TRADING_SESSIONS

D = dt.date.fromisoformat


@pytest.mark.parametrize(
    "day", ["2024-12-25", "2025-01-01", "2025-01-09", "2012-10-29", "2012-10-30", "2024-12-28"]
)
def test_holidays_closures_and_weekends_are_not_partitions(day):
    assert not TRADING_SESSIONS.has_partition_key(day)
    assert not cal.is_session(D(day))


@pytest.mark.parametrize("day", ["2024-11-29", "2024-12-24", "2003-09-10", "2025-01-08"])
def test_sessions_and_half_days_are_partitions(day):
    assert TRADING_SESSIONS.has_partition_key(day)
    assert cal.is_session(D(day))


def test_partition_keys_are_exactly_the_xnys_sessions():
    now = dt.datetime(2025, 2, 1, 12, tzinfo=dt.UTC)
    keys = TRADING_SESSIONS.get_partition_keys(current_time=now)
    sessions = cal.sessions_between(cal.FIRST_SESSION, D("2025-01-31"))
    assert keys == [s.isoformat() for s in sessions]
    assert keys[0] == "2003-09-10"


def test_half_day_closes_at_13_new_york():
    assert cal.is_half_day(D("2024-11-29"))
    assert not cal.is_half_day(D("2024-11-27"))
    assert cal.session_close(D("2024-11-29")).astimezone(cal.NEW_YORK).hour == 13


def test_latest_completed_session_respects_the_close():
    before_close = dt.datetime(2025, 1, 10, 20, 59, tzinfo=dt.UTC)  # 15:59 New York
    after_close = dt.datetime(2025, 1, 10, 21, 0, tzinfo=dt.UTC)
    assert cal.latest_completed_session(before_close) == D("2025-01-08")  # 01-09 was closed
    assert cal.latest_completed_session(after_close) == D("2025-01-10")


def test_previous_and_next_session_skip_closures():
    assert cal.previous_session(D("2025-01-10")) == D("2025-01-08")
    assert cal.next_session(D("2024-12-24")) == D("2024-12-26")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2025-01-09", "not an NYSE trading session"),
        ("2025-01-11", "weekend"),
        ("2001-01-02", "before the first session"),
        ("2025/01/10", "YYYY-MM-DD"),
        ("2099-01-02", "past the end of the NYSE calendar"),
    ],
)
def test_parse_session_names_what_is_wrong(value, fragment):
    with pytest.raises(cal.SessionError, match=fragment):
        cal.parse_session(value)


def test_parse_session_refuses_a_session_that_has_not_closed():
    now = dt.datetime(2025, 1, 10, 15, 0, tzinfo=dt.UTC)
    with pytest.raises(cal.SessionError, match="future"):
        cal.parse_session("2025-01-10", now=now)
    assert cal.parse_session("2025-01-08", now=now) == D("2025-01-08")


def test_parse_session_range_rejects_reversed_and_empty_ranges():
    with pytest.raises(cal.SessionError, match="before START"):
        cal.parse_session_range("2025-01-10", "2025-01-02")
    with pytest.raises(cal.SessionError, match="no NYSE trading session"):
        cal.parse_session_range("2025-01-11", "2025-01-12")
    assert cal.parse_session_range("2025-01-08", "2025-01-10") == [D("2025-01-08"), D("2025-01-10")]


def test_session_from_partition_key_refuses_non_sessions():
    with pytest.raises(cal.SessionError, match="2024-12-25"):
        cal.session_from_partition_key("2024-12-25")
    assert cal.session_from_partition_key("2024-12-24") == D("2024-12-24")


@pytest.mark.parametrize(
    "key", ["2024-12-24", "2024-12-25", "2025-01-09", "2025-01-10", "2025-01-08", "20250110"]
)
def test_session_from_partition_key_agrees_with_the_partitions_definition(key):
    now = dt.datetime(2025, 1, 10, 18, tzinfo=dt.UTC)  # 13:00 New York: 2025-01-10 not ended
    exists = key in TRADING_SESSIONS.get_partition_keys(current_time=now)
    if exists:
        assert cal.session_from_partition_key(key, now=now).isoformat() == key
    else:
        with pytest.raises(cal.SessionError, match=key):
            cal.session_from_partition_key(key, now=now)
