"""Live routing: the cheapest source per session, by time, credentials and ticker count."""

import json

import pytest

from finance_pipeline.calendar import sessions_between
from finance_pipeline.router.model import Request
from finance_pipeline.router.routing import best_source, plan
from finance_pipeline.router.rules import MINUTE_FLAT_FILE_BYTES, flat_file_available_at
from finance_pipeline_tests.router.support import (
    FREE,
    LATER,
    PAID_FILES,
    PAID_NO_FILES,
    SP500,
    THREE,
    YEAR_2024,
    D,
    ny,
    one,
    utc,
)


# Friday 2025-01-10 is a normal session (EST: 11:00 NY = 16:00 UTC); 2024-11-29 closes at 13:00.
@pytest.mark.parametrize(
    ("creds", "session", "now", "source"),
    [
        # paid with flat files: the file counts from D+1 11:00 New York, to the second
        (PAID_FILES, "2025-01-10", ny("2025-01-11T10:59:59"), "grouped_daily"),
        (PAID_FILES, "2025-01-10", ny("2025-01-11T11:00:00"), "flat_file"),
        (PAID_FILES, "2025-01-10", utc("2025-01-11T15:59:59"), "grouped_daily"),
        (PAID_FILES, "2025-01-10", utc("2025-01-11T16:00:00"), "flat_file"),
        (PAID_FILES, "2025-01-10", ny("2025-01-10T15:00"), "unavailable"),
        # paid without flat files: grouped daily from the close + 15 minutes
        (PAID_NO_FILES, "2025-01-10", ny("2025-01-10T16:14"), "unavailable"),
        (PAID_NO_FILES, "2025-01-10", ny("2025-01-10T16:15"), "grouped_daily"),
        (PAID_NO_FILES, "2024-11-29", ny("2024-11-29T13:14"), "unavailable"),
        (PAID_NO_FILES, "2024-11-29", ny("2024-11-29T13:15"), "grouped_daily"),
        (PAID_NO_FILES, "2025-01-10", ny("2025-03-01T12:00"), "grouped_daily"),
        # free plan: today only after end of day (00:30 New York the next day)
        (FREE, "2025-01-10", ny("2025-01-10T17:00"), "unavailable"),
        (FREE, "2025-01-10", ny("2025-01-11T00:29"), "unavailable"),
        (FREE, "2025-01-10", ny("2025-01-11T00:30"), "grouped_daily"),
    ],
)
def test_daily_bars_whole_market_source_by_time(creds, session, now, source):
    planned = one("daily_bars", session, now, creds)
    assert planned.source == source
    assert best_source("daily_bars", D(session), now, creds) == source
    expected_costs = {
        "flat_file": (0, 1),
        "grouped_daily": (1, 0),
        "unavailable": (0, 0),
    }
    assert (planned.api_calls, planned.s3_gets) == expected_costs[source]
    if source == "unavailable":
        assert planned.available_at is not None and planned.available_at > now
        assert "available from" in planned.reason


@pytest.mark.parametrize(
    ("now", "words"),
    [
        (ny("2025-01-10T15:59"), "has not closed yet"),
        (ny("2025-01-10T17:00"), "free plan"),
    ],
)
def test_unavailable_reasons_say_why(now, words):
    assert words in one("daily_bars", "2025-01-10", now, FREE).reason


@pytest.mark.parametrize(
    ("tickers", "sessions", "source", "calls"),
    [
        (THREE, 30, "rest", 3),  # 3 per-ticker range calls beat 30 grouped calls
        (SP500, 30, "grouped_daily", 30),
        (tuple(f"T{i}" for i in range(29)), 30, "rest", 29),
        (tuple(f"T{i}" for i in range(30)), 30, "grouped_daily", 30),  # a tie: whole market
        (None, 30, "grouped_daily", 30),
        (("AAPL",), 1, "grouped_daily", 1),
    ],
)
def test_few_tickers_use_rest_only_when_cheaper(tickers, sessions, source, calls):
    days = YEAR_2024[-sessions:]
    p = plan(Request("daily_bars", days, tickers, LATER), PAID_NO_FILES)
    assert {s.source for s in p.sessions} == {source}
    assert p.api_calls == calls
    assert p.sessions_by_source[source] == sessions


def test_few_tickers_take_published_flat_files_and_grouped_daily_for_the_rest():
    days = sessions_between(D("2024-11-18"), D("2024-12-31"))
    now = ny("2024-12-31T18:00")  # 2024-12-31 closed, its file not out until 2025-01-01 11:00
    p = plan(Request("daily_bars", days, THREE, now), PAID_FILES)
    assert p.sessions_for("flat_file") == days[:-1]
    assert p.sessions_for("grouped_daily") == [days[-1]]  # 3 tickers >= 1 session needing calls
    assert (p.api_calls, p.s3_gets) == (1, len(days) - 1)


def test_rest_range_costs_one_call_per_ticker_even_across_stored_gaps():
    days = YEAR_2024[-30:]
    stored = frozenset(days[5:20])
    p = plan(Request("daily_bars", days, THREE, LATER, stored=stored), PAID_NO_FILES)
    assert list(p.skipped) == sorted(stored)
    assert {s.source for s in p.sessions} == {"rest"}
    assert p.api_calls == len(THREE)
    assert sum(1 for s in p.sessions if s.api_calls) == 1  # counted once, on the first session


@pytest.mark.parametrize(
    ("creds", "tickers", "source", "api_calls", "gets_per_session"),
    [
        (PAID_FILES, None, "flat_file", 0, 1),
        (PAID_FILES, THREE, "flat_file", 0, 1),
        # 2024-11-25 .. 2024-12-27 spans two calendar months: one request per ticker per month
        (PAID_NO_FILES, THREE, "rest", 3 * 2, 0),
        (FREE, ("AAPL",), "rest", 1 * 2, 0),
        (PAID_NO_FILES, None, "unavailable", 0, 0),
    ],
)
def test_minute_bars(creds, tickers, source, api_calls, gets_per_session):
    days = sessions_between(D("2024-11-25"), D("2024-12-27"))
    p = plan(Request("minute_bars", days, tickers, LATER), creds)
    assert {s.source for s in p.sessions} == {source}
    assert (p.api_calls, p.s3_gets) == (api_calls, gets_per_session * len(days))
    if source == "flat_file":
        assert p.est_bytes == len(days) * MINUTE_FLAT_FILE_BYTES


def test_whole_market_minute_bars_without_flat_files_name_the_cost():
    days = sessions_between(D("2024-11-25"), D("2024-12-27"))
    p = plan(Request("minute_bars", days, None, LATER, market_size=11_000), PAID_NO_FILES)
    reason = p.sessions[0].reason
    assert f"{11_000 * 2:,} calls" in reason and "flat files" in reason
    assert all(s.available_at is None for s in p.sessions)  # no source will ever serve it


def test_whole_market_minute_bars_wait_for_an_unpublished_file():
    now = ny("2025-01-10T21:00")
    planned = one("minute_bars", "2025-01-10", now, PAID_FILES)
    assert planned.source == "unavailable"
    assert planned.available_at == flat_file_available_at(D("2025-01-10"))


def test_minute_rest_waits_for_extended_hours_to_end():
    assert one(
        "minute_bars", "2025-01-10", ny("2025-01-10T20:14"), PAID_NO_FILES, THREE
    ).source == ("unavailable")
    assert one(
        "minute_bars", "2025-01-10", ny("2025-01-10T20:15"), PAID_NO_FILES, THREE
    ).source == ("rest")


@pytest.mark.parametrize(
    ("stored", "force", "skipped", "planned"),
    [
        (frozenset(), False, 0, 10),
        (frozenset(YEAR_2024[-10:-7]), False, 3, 7),
        (frozenset(YEAR_2024[-10:-7]), True, 0, 10),
        (frozenset(YEAR_2024[-10:]), False, 10, 0),
        (frozenset([D("2023-01-03")]), False, 0, 10),  # stored but not asked for
    ],
)
def test_stored_sessions_are_skipped_unless_forced(stored, force, skipped, planned):
    days = YEAR_2024[-10:]
    p = plan(Request("daily_bars", days, None, LATER, stored=stored, force=force), PAID_FILES)
    assert len(p.skipped) == skipped
    assert len(p.sessions) == planned
    assert set(p.skipped).isdisjoint(s.session for s in p.sessions)
    assert sorted([*p.skipped, *(s.session for s in p.sessions)]) == days
    assert p.s3_gets == planned


@pytest.mark.parametrize(
    ("market_size", "per_session"),
    [(11_000, 2 * 11), (2_500, 2 * 3), (1_000, 2 * 1), (1, 2)],
)
def test_universe_costs_pages_of_1000_per_status_per_session(market_size, per_session):
    days = YEAR_2024[:4]
    p = plan(Request("universe", days, None, LATER, market_size=market_size), FREE)
    assert {s.source for s in p.sessions} == {"reference"}
    assert p.api_calls == per_session * len(days)
    assert p.calls_saved == 0


def test_universe_waits_for_the_close():
    assert one("universe", "2025-01-10", ny("2025-01-10T12:00"), FREE).source == "unavailable"
    assert one("universe", "2025-01-10", ny("2025-01-10T16:00"), FREE).source == "reference"


@pytest.mark.parametrize("count", [1, 5, 252])
def test_corporate_actions_cost_two_calls_per_range(count):
    p = plan(Request("corporate_actions", YEAR_2024[:count], None, LATER), PAID_NO_FILES)
    assert p.api_calls == 2
    assert p.sessions_by_source["reference"] == count
    assert p.sessions[0].api_calls == 2


@pytest.mark.parametrize(
    ("creds", "api_calls", "s3_gets"),
    [(PAID_NO_FILES, 252, 0), (PAID_FILES, 0, 252)],
)
def test_headline_sp500_for_a_year(creds, api_calls, s3_gets):
    assert len(YEAR_2024) == 252
    p = plan(Request("daily_bars", YEAR_2024, SP500, LATER), creds)
    assert (p.api_calls, p.s3_gets) == (api_calls, s3_gets)
    assert p.old_path_calls == 500 * 252 == 126_000
    assert p.calls_saved == 126_000 - api_calls
    assert json.loads(json.dumps(p.to_dict()))["totals"]["old_path_calls"] == 126_000
