"""The router's availability and cost rules: when each source has a session's data, what the
REST limits are, rough download sizes, and the least wall time a rate limit allows.

Publication times and sizes come from reference/polygon.md; sizes are rough estimates, good for
a quote before a download, not for accounting. All times are America/New_York.
"""

from __future__ import annotations

import datetime as dt
import math

from finance_pipeline.calendar import NEW_YORK, session_close

# --- Availability (America/New_York) ------------------------------------------------------------
# Flat files are published "by ~11:00 ET the next day" (day aggs often the same evening): we
# count on the next *calendar* day at 11:00, so Friday's file is expected Saturday 11:00.
FLAT_FILE_PUBLISH_TIME = dt.time(11, 0)
# Paid plans: grouped daily and day bars are final a little after the close (16:15, or 13:15
# on half days); the margin also covers the 15-minute delay of delayed plans.
CLOSE_MARGIN = dt.timedelta(minutes=15)
# Minute bars include extended hours, which end at 20:00 ET (we use it on half days too).
EXTENDED_HOURS_END = dt.time(20, 0)
# Free plans get 403 "today's data before end of day", sometimes until after midnight ET.
FREE_PLAN_AVAILABLE_TIME = dt.time(0, 30)

# --- REST limits (polygon.md) ------------------------------------------------------------------
AGGS_BASE_BAR_LIMIT = 50_000  # `limit` max: base bars one per-ticker aggs request may read
REFERENCE_PAGE_SIZE = 1_000  # `limit` max for tickers, splits, dividends
DEFAULT_MARKET_SIZE = 11_000  # tickers in the whole market (grouped daily, no OTC)

# --- Rough sizes, for estimates only -----------------------------------------------------------
GROUPED_DAILY_BYTES = 1_200_000  # grouped daily JSON, whole market, one session
DAY_FLAT_FILE_BYTES = 300_000  # day_aggs_v1 gzip CSV, one session
MINUTE_FLAT_FILE_BYTES = 40_000_000  # minute_aggs_v1 gzip CSV, one session ("tens of MB")
REST_DAY_BAR_BYTES = GROUPED_DAILY_BYTES // DEFAULT_MARKET_SIZE  # one day bar in aggs JSON
REST_MINUTE_TICKER_SESSION_BYTES = 100_000  # ~960 minute bars of one ticker, one session
REFERENCE_TICKER_BYTES = 400  # one /v3/reference/tickers row
CORPORATE_ACTIONS_PAGE_BYTES = 50_000  # one splits or dividends page for a range (few rows)


def _new_york(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=NEW_YORK)


def flat_file_available_at(session: dt.date) -> dt.datetime:
    """When a session's day/minute flat file is expected: the next calendar day, 11:00 NY."""
    return _new_york(session + dt.timedelta(days=1), FLAT_FILE_PUBLISH_TIME)


def grouped_daily_available_at(session: dt.date, free_plan: bool) -> dt.datetime:
    """When final day bars (grouped daily or per-ticker) can be asked for.

    Paid: the close plus CLOSE_MARGIN (16:15 NY, 13:15 on half days). Free: 00:30 NY the next
    day, since free keys get 403 "today's data before end of day" until after midnight.
    """
    if free_plan:
        return _new_york(session + dt.timedelta(days=1), FREE_PLAN_AVAILABLE_TIME)
    return session_close(session).astimezone(NEW_YORK) + CLOSE_MARGIN


def rest_minute_available_at(session: dt.date, free_plan: bool) -> dt.datetime:
    """When a session's minute bars are complete over REST: after extended hours (20:15 NY)."""
    if free_plan:
        return grouped_daily_available_at(session, free_plan=True)
    return _new_york(session, EXTENDED_HOURS_END) + CLOSE_MARGIN


def reference_available_at(session: dt.date) -> dt.datetime:
    """A session's point-in-time universe is final once the session has closed."""
    return session_close(session).astimezone(NEW_YORK)


def min_wall_seconds(calls: int, rate_limit_per_minute: int) -> int:
    """The least wall time for `calls` under a per-minute limit: the first window's allowance
    goes at once, every further `limit` calls wait one more minute. 0 when unlimited."""
    if rate_limit_per_minute <= 0 or calls <= rate_limit_per_minute:
        return 0
    return 60 * (math.ceil(calls / rate_limit_per_minute) - 1)
