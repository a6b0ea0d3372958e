"""Routing: the one place that decides which Polygon source serves which session.

`plan` returns, per requested session, the cheapest source that has the data by the request's
`now` under the credentials. Preference, per session: flat file (0 API calls) > grouped daily
(1 call, whole market) > per-ticker REST (only when it is cheaper for a few tickers, see
`_route_bars`) > unavailable.
"""

from __future__ import annotations

import datetime as dt
import math

from finance_pipeline.calendar import session_close, sessions_between
from finance_pipeline.registry import CURATED_OF, MINUTE_BARS, Dataset, Source
from finance_pipeline.router.model import Credentials, Plan, Request, SessionPlan
from finance_pipeline.router.rules import (
    AGGS_BASE_BAR_LIMIT,
    CORPORATE_ACTIONS_PAGE_BYTES,
    DAY_FLAT_FILE_BYTES,
    GROUPED_DAILY_BYTES,
    MINUTE_FLAT_FILE_BYTES,
    REFERENCE_PAGE_SIZE,
    REFERENCE_TICKER_BYTES,
    REST_DAY_BAR_BYTES,
    REST_MINUTE_TICKER_SESSION_BYTES,
    flat_file_available_at,
    grouped_daily_available_at,
    reference_available_at,
    rest_minute_available_at,
)


def plan(request: Request, credentials: Credentials) -> Plan:
    """Route every requested session to its cheapest available source."""
    skipped = tuple(d for d in request.sessions if d in request.stored and not request.force)
    todo = [d for d in request.sessions if d not in skipped]
    if request.dataset in CURATED_OF:  # the bar datasets, daily and minute
        planned = _route_bars(request, credentials, todo)
    elif request.dataset == "universe":
        planned = [_route_universe(request, d) for d in todo]
    else:
        planned = _route_corporate_actions(request, todo)
    return Plan(request, credentials, tuple(planned), skipped)


def best_source(
    dataset: Dataset,
    session: dt.date,
    now: dt.datetime,
    credentials: Credentials,
    tickers: tuple[str, ...] | None = None,
) -> Source:
    """The source `plan` would pick for this one session (stored or not)."""
    one = plan(Request(dataset, (session,), tickers, now, force=True), credentials)
    return one.sessions[0].source


def _unavailable(session: dt.date, reason: str, at: dt.datetime | None) -> SessionPlan:
    return SessionPlan(session, "unavailable", 0, 0, 0, reason, available_at=at)


def _flat_file(request: Request, session: dt.date, size: int) -> SessionPlan:
    return SessionPlan(
        session,
        "flat_file",
        api_calls=0,
        s3_gets=1,
        est_bytes=size,
        reason="flat file published (0 API calls)",
        old_path_calls=request.ticker_count,
    )


def _route_bars(
    request: Request, credentials: Credentials, todo: list[dt.date]
) -> list[SessionPlan]:
    """Daily and minute bars.

    A session published as a flat file (and the plan has flat files) takes it. The rest need
    API calls:
    - daily bars, whole market: grouped daily, 1 call per session.
    - daily bars, K tickers: per-ticker REST over the whole range costs K calls (one aggs
      request reads up to 50,000 day bars), grouped daily costs 1 call per session; REST wins
      when K < the number of sessions needing calls. Ties go to grouped daily (whole market).
    - minute bars, K tickers: per-ticker REST, one request per ticker per calendar month
      (polygon.md: ask a month at a time at most), so K x calendar months holding
      sessions to fetch.
    - minute bars, whole market: unavailable without flat files (one call per ticker per
      month: far too costly); the reason carries the cost.
    """
    minute = CURATED_OF[request.dataset] == MINUTE_BARS
    file_size = MINUTE_FLAT_FILE_BYTES if minute else DAY_FLAT_FILE_BYTES
    free = credentials.free_plan
    # Whole-market minute bars over REST would be one call per ticker per month: never planned.
    api_possible = not (minute and request.tickers is None)
    planned: dict[dt.date, SessionPlan] = {}
    need_api: list[dt.date] = []
    for day in todo:
        published = flat_file_available_at(day)
        if credentials.flat_files and request.now >= published:
            planned[day] = _flat_file(request, day, file_size)
            continue
        if minute:
            ready = rest_minute_available_at(day, free)
        else:
            ready = grouped_daily_available_at(day, free)
        if api_possible and request.now >= ready:
            need_api.append(day)
            continue
        candidates = [
            t for t, ok in ((published, credentials.flat_files), (ready, api_possible)) if ok
        ]
        at = min(candidates) if candidates else None
        if api_possible:
            reason = _not_yet_reason(request, day, ready, free)
        else:
            reason = _whole_market_minute_reason(request, credentials, todo, at)
        planned[day] = _unavailable(day, reason, at)

    if minute:
        planned.update(_route_minute_rest(request, need_api))
    else:
        planned.update(_route_daily_api(request, need_api))
    return [planned[d] for d in todo]


def _whole_market_minute_reason(
    request: Request, credentials: Credentials, todo: list[dt.date], at: dt.datetime | None
) -> str:
    if credentials.flat_files and at is not None:
        return (
            f"minute flat file not published yet (expected {at:%Y-%m-%d %H:%M %Z}); "
            "whole-market minute bars are never fetched per ticker"
        )
    months = len({(d.year, d.month) for d in todo})
    cost = request.market_size * months
    return (
        "whole-market minute bars need flat files and the plan has none; per-ticker REST would "
        f"cost ~{cost:,} calls ({request.market_size:,} tickers x {months} month(s)): "
        "name a few tickers instead"
    )


def _not_yet_reason(request: Request, day: dt.date, ready: dt.datetime, free: bool) -> str:
    when = ready.strftime("%Y-%m-%d %H:%M %Z")
    if request.now < session_close(day):
        return f"session has not closed yet; data available from {when}"
    if free:
        return f"free plan: today's data is refused before end of day; available from {when}"
    return f"not yet final after the close; available from {when}"


def _route_daily_api(request: Request, days: list[dt.date]) -> dict[dt.date, SessionPlan]:
    if not days:
        return {}
    count = request.ticker_count
    if request.tickers is None or count >= len(days):
        return {
            d: SessionPlan(
                d,
                "grouped_daily",
                api_calls=1,
                s3_gets=0,
                est_bytes=GROUPED_DAILY_BYTES,
                reason="grouped daily: whole market in 1 call"
                + ("" if request.tickers is None else f" (cheaper than {count} per-ticker calls)"),
                old_path_calls=count,
            )
            for d in days
        }
    # One aggs request per ticker spans first..last session needing calls (sessions in between
    # served otherwise come back too, at no extra call); 50,000 day bars per request at most.
    span = _sessions_spanned(days)
    per_ticker = math.ceil(span / AGGS_BASE_BAR_LIMIT)
    total = count * per_ticker
    reason = (
        f"per-ticker REST: {count} tickers x {per_ticker} range request(s) = {total} calls "
        f"for {len(days)} sessions, cheaper than {len(days)} grouped daily calls"
    )
    return {
        d: SessionPlan(
            d,
            "rest",
            api_calls=total if i == 0 else 0,
            s3_gets=0,
            est_bytes=count * REST_DAY_BAR_BYTES,
            reason=reason,
            old_path_calls=count,
        )
        for i, d in enumerate(days)
    }


def _sessions_spanned(days: list[dt.date]) -> int:
    return len(sessions_between(days[0], days[-1]))


def _route_minute_rest(request: Request, days: list[dt.date]) -> dict[dt.date, SessionPlan]:
    """Named tickers only: one aggs request per ticker per calendar month."""
    count = request.ticker_count
    planned: dict[dt.date, SessionPlan] = {}
    seen_months: set[tuple[int, int]] = set()
    for day in days:
        month = (day.year, day.month)
        first = month not in seen_months
        seen_months.add(month)
        planned[day] = SessionPlan(
            day,
            "rest",
            api_calls=count if first else 0,
            s3_gets=0,
            est_bytes=count * REST_MINUTE_TICKER_SESSION_BYTES,
            reason=f"per-ticker REST minute bars: {count} calls per calendar month ({day:%Y-%m})",
            old_path_calls=count,
        )
    return planned


def _route_universe(request: Request, day: dt.date) -> SessionPlan:
    ready = reference_available_at(day)
    if request.now < ready:
        when = ready.strftime("%Y-%m-%d %H:%M %Z")
        return _unavailable(day, f"session has not closed yet; available from {when}", ready)
    pages = math.ceil(request.market_size / REFERENCE_PAGE_SIZE)
    calls = 2 * pages  # active and inactive tickers, each paged at 1000
    return SessionPlan(
        day,
        "reference",
        api_calls=calls,
        s3_gets=0,
        est_bytes=2 * request.market_size * REFERENCE_TICKER_BYTES,
        reason=f"reference tickers as of the session: {pages} page(s) x (active + inactive)",
        old_path_calls=calls,  # the old system had no cheaper or costlier way to list tickers
    )


def _route_corporate_actions(request: Request, days: list[dt.date]) -> list[SessionPlan]:
    """Splits and dividends for the whole range in one paged query each: 2 calls per range.

    A lower bound: each endpoint pays one more call per 1,000 rows past the first page, and a
    range of a few sessions has far fewer. Announcements come ahead of time, so future
    sessions are plannable too.
    """
    reason = "splits + dividends for the whole range: 1 call each (more if > 1,000 rows)"
    return [
        SessionPlan(
            d,
            "reference",
            api_calls=2 if i == 0 else 0,
            s3_gets=0,
            est_bytes=2 * CORPORATE_ACTIONS_PAGE_BYTES if i == 0 else 0,
            reason=reason,
            old_path_calls=2 if i == 0 else 0,
        )
        for i, d in enumerate(days)
    ]
