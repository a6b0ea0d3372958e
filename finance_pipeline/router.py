"""The router: the one place that decides which Polygon source serves which session.

Given a request (dataset, sessions, tickers, the current time, what is already stored) and what
the credentials allow, `plan` returns, per session, the cheapest source that has the data by
`now`, with API calls, S3 GETs, a size estimate, the least wall time the rate limit allows and
what the old per-ticker path would have cost. Plain Python: no Dagster here.

Preference, per session: flat file (0 API calls) > grouped daily (1 call, whole market) >
per-ticker REST (only when it is cheaper for a few tickers, see `_route_bars`) > unavailable.

Publication times and sizes come from reference/polygon.md; sizes are rough estimates, good for
a quote before a download, not for accounting.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from finance_pipeline.calendar import (
    NEW_YORK,
    SessionError,
    parse_session,
    session_close,
    sessions_between,
)
from finance_pipeline.settings import env

Dataset = Literal["daily_bars", "minute_bars", "universe", "corporate_actions"]
Source = Literal["flat_file", "grouped_daily", "rest", "reference", "unavailable"]
DATASETS: tuple[str, ...] = get_args(Dataset)
SOURCES: tuple[str, ...] = get_args(Source)

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


class InvalidRequest(ValueError):
    """A request or credentials the router cannot plan, with the reason in the message."""


@dataclass(frozen=True)
class Credentials:
    """What the configured plan allows. `rate_limit_per_minute` 0 means unlimited."""

    rate_limit_per_minute: int
    flat_files: bool
    free_plan: bool

    def __post_init__(self) -> None:
        if self.rate_limit_per_minute < 0:
            raise InvalidRequest(
                f"rate_limit_per_minute must be 0 (unlimited) or positive, "
                f"got {self.rate_limit_per_minute}"
            )
        if self.free_plan and self.flat_files:
            raise InvalidRequest("a free Polygon plan has no flat-file (S3) access")

    @classmethod
    def from_env(cls) -> Credentials:
        """From POLYGON_PLAN, POLYGON_RATE_LIMIT_PER_MINUTE and FLATFILES_ACCESS_KEY_ID."""
        plan = (env("POLYGON_PLAN") or "free").lower()
        if plan not in ("free", "paid"):
            raise InvalidRequest(f"POLYGON_PLAN must be 'free' or 'paid', got {plan!r}")
        raw_limit = env("POLYGON_RATE_LIMIT_PER_MINUTE") or "0"
        try:
            limit = int(raw_limit)
        except ValueError:
            raise InvalidRequest(
                f"POLYGON_RATE_LIMIT_PER_MINUTE must be an integer, got {raw_limit!r}"
            ) from None
        free = plan == "free"
        return cls(
            rate_limit_per_minute=limit,
            flat_files=not free and bool(env("FLATFILES_ACCESS_KEY_ID")),
            free_plan=free,
        )

    def describe(self) -> str:
        limit = f"{self.rate_limit_per_minute}/min" if self.rate_limit_per_minute else "unlimited"
        files = "flat files" if self.flat_files else "no flat files"
        return f"{'free' if self.free_plan else 'paid'} plan, {files}, {limit} API calls"


@dataclass(frozen=True)
class Request:
    """What to fetch. `tickers=None` means the whole market; `now` must be aware.

    Sessions are validated, de-duplicated and sorted; tickers are de-duplicated (order kept).
    `universe` and `corporate_actions` are whole-market fetches whatever `tickers` says.
    """

    dataset: Dataset
    sessions: Sequence[dt.date]  # stored as a sorted tuple
    tickers: Sequence[str] | None
    now: dt.datetime
    stored: frozenset[dt.date] = frozenset()
    force: bool = False
    market_size: int = DEFAULT_MARKET_SIZE

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise InvalidRequest(
                f"unknown dataset {self.dataset!r}; expected one of {', '.join(DATASETS)}"
            )
        if not isinstance(self.now, dt.datetime) or self.now.utcoffset() is None:
            raise InvalidRequest(
                f"now must be a timezone-aware datetime, got {self.now!r} "
                "(naive times are ambiguous across New York and UTC)"
            )
        object.__setattr__(self, "sessions", _valid_sessions(self.sessions))
        if self.tickers is not None:
            object.__setattr__(self, "tickers", _valid_tickers(self.tickers))
        if self.market_size < 1:
            raise InvalidRequest(f"market_size must be positive, got {self.market_size}")
        object.__setattr__(self, "stored", frozenset(self.stored))

    @property
    def ticker_count(self) -> int:
        """Tickers the request covers: the named ones, or the whole market."""
        return len(self.tickers) if self.tickers is not None else self.market_size


def _valid_sessions(sessions: Iterable[dt.date]) -> tuple[dt.date, ...]:
    days = set()
    for day in sessions:
        if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise InvalidRequest(f"sessions must be dates, got {day!r}")
        try:
            days.add(parse_session(day))
        except SessionError as exc:
            raise InvalidRequest(f"cannot plan {day}: {exc}") from None
    if not days:
        raise InvalidRequest("the request names no sessions")
    return tuple(sorted(days))


# Letters and digits with `.`/`-` class separators; case is kept (BRK.A, KIMpL are real symbols).
_TICKER = re.compile(r"[A-Za-z0-9]+(?:[.\-][A-Za-z0-9]+)*")


def _valid_tickers(tickers: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tickers, str):
        raise InvalidRequest(f"tickers must be a sequence of symbols, not the string {tickers!r}")
    clean: dict[str, None] = {}
    for ticker in tickers:
        if not isinstance(ticker, str) or not ticker.strip():
            raise InvalidRequest(f"tickers must be non-empty strings, got {ticker!r}")
        if not _TICKER.fullmatch(ticker.strip()):
            raise InvalidRequest(f"{ticker.strip()!r} is not a ticker symbol")
        clean[ticker.strip()] = None
    if not clean:
        raise InvalidRequest("tickers is empty: name at least one, or pass None for the market")
    return tuple(clean)


@dataclass(frozen=True)
class SessionPlan:
    """How one session is served. A range request's calls are counted on its first session.

    `available_at` is set on unavailable sessions: the earliest moment some source will serve
    them (None when none ever will with these credentials).
    """

    session: dt.date
    source: Source
    api_calls: int
    s3_gets: int
    est_bytes: int
    reason: str
    old_path_calls: int = 0
    available_at: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session.isoformat(),
            "source": self.source,
            "api_calls": self.api_calls,
            "s3_gets": self.s3_gets,
            "est_bytes": self.est_bytes,
            "reason": self.reason,
            "old_path_calls": self.old_path_calls,
            "available_at": self.available_at.isoformat() if self.available_at else None,
        }


@dataclass(frozen=True)
class Plan:
    """The router's answer: one SessionPlan per session to fetch, plus totals."""

    request: Request
    credentials: Credentials
    sessions: tuple[SessionPlan, ...]
    skipped: tuple[dt.date, ...] = field(default=())  # already stored, not forced

    @property
    def api_calls(self) -> int:
        return sum(s.api_calls for s in self.sessions)

    @property
    def s3_gets(self) -> int:
        return sum(s.s3_gets for s in self.sessions)

    @property
    def est_bytes(self) -> int:
        return sum(s.est_bytes for s in self.sessions)

    @property
    def old_path_calls(self) -> int:
        """One call per ticker per session, over the sessions this plan serves."""
        return sum(s.old_path_calls for s in self.sessions)

    @property
    def calls_saved(self) -> int:
        return self.old_path_calls - self.api_calls

    @property
    def min_wall_seconds(self) -> int:
        return min_wall_seconds(self.api_calls, self.credentials.rate_limit_per_minute)

    @property
    def old_path_min_wall_seconds(self) -> int:
        return min_wall_seconds(self.old_path_calls, self.credentials.rate_limit_per_minute)

    @property
    def sessions_by_source(self) -> dict[str, int]:
        """Every source, in preference order, with how many sessions it serves (0 included)."""
        counts = dict.fromkeys(SOURCES, 0)
        for s in self.sessions:
            counts[s.source] += 1
        return counts

    def sessions_for(self, source: Source) -> list[dt.date]:
        return [s.session for s in self.sessions if s.source == source]

    def source_of(self, session: dt.date) -> Source | None:
        """The source planned for `session`; None when it was skipped or not requested."""
        for s in self.sessions:
            if s.session == session:
                return s.source
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates and times as ISO strings)."""
        req = self.request
        return {
            "request": {
                "dataset": req.dataset,
                "sessions": [d.isoformat() for d in req.sessions],
                "tickers": list(req.tickers) if req.tickers is not None else None,
                "now": req.now.isoformat(),
                "stored": sorted(d.isoformat() for d in req.stored),
                "force": req.force,
                "market_size": req.market_size,
            },
            "credentials": {
                "rate_limit_per_minute": self.credentials.rate_limit_per_minute,
                "flat_files": self.credentials.flat_files,
                "free_plan": self.credentials.free_plan,
            },
            "sessions": [s.to_dict() for s in self.sessions],
            "skipped": [d.isoformat() for d in self.skipped],
            "totals": {
                "api_calls": self.api_calls,
                "s3_gets": self.s3_gets,
                "est_bytes": self.est_bytes,
                "min_wall_seconds": self.min_wall_seconds,
                "old_path_calls": self.old_path_calls,
                "old_path_min_wall_seconds": self.old_path_min_wall_seconds,
                "calls_saved": self.calls_saved,
                "sessions_by_source": self.sessions_by_source,
            },
        }


# --- Availability -------------------------------------------------------------------------------


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


# --- Planning -----------------------------------------------------------------------------------


def plan(request: Request, credentials: Credentials) -> Plan:
    """Route every requested session to its cheapest available source."""
    skipped = tuple(d for d in request.sessions if d in request.stored and not request.force)
    todo = [d for d in request.sessions if d not in skipped]
    if request.dataset in ("daily_bars", "minute_bars"):
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


# --- Stored sources (the curated layer) ---------------------------------------------------------
# Per curated dataset: (source, raw lake dataset that stores it), best first. Daily bars have no
# stored per-ticker REST source: per-ticker day bars are only fetched to reconcile.
STORED_SOURCES: dict[str, tuple[tuple[Source, str], ...]] = {
    "daily_bars": (("flat_file", "flat_file_day_aggs"), ("grouped_daily", "grouped_daily_bars")),
    "minute_bars": (("flat_file", "flat_file_minute_aggs"), ("rest", "rest_fills")),
}


def stored_sources(dataset: Dataset) -> tuple[tuple[Source, str], ...]:
    """(source, raw lake dataset) pairs that can feed a curated dataset, best first."""
    try:
        return STORED_SOURCES[dataset]
    except KeyError:
        raise InvalidRequest(
            f"{dataset!r} has no stored sources to pick from; expected one of "
            f"{', '.join(STORED_SOURCES)}"
        ) from None


def pick_stored_source(dataset: Dataset, available: Iterable[Source]) -> Source:
    """The best of the sources already stored for a session, or "unavailable" when none is.

    Unlike `plan`, time and credentials do not matter here: what is in the lake is final, so a
    flat file beats grouped daily (daily bars) or per-ticker REST fills (minute bars).
    """
    ranked = stored_sources(dataset)
    have = set(available)
    unknown = have - {source for source, _ in ranked}
    if unknown:
        raise InvalidRequest(
            f"{dataset} cannot be served from {', '.join(sorted(unknown))}; stored sources are "
            f"{', '.join(source for source, _ in ranked)}"
        )
    return next((source for source, _ in ranked if source in have), "unavailable")


def source_rank(dataset: Dataset, source: Source) -> int:
    """1 for the best stored source of `dataset`, 2 for the next; 0 when it cannot serve it."""
    for rank, (candidate, _) in enumerate(stored_sources(dataset), start=1):
        if candidate == source:
            return rank
    return 0


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
    minute = request.dataset == "minute_bars"
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


# --- Text ---------------------------------------------------------------------------------------


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


def _duration(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h {minutes} min"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def format_plan(p: Plan) -> str:
    """A text table for the CLI: rows per source, totals, and the old per-ticker path."""
    req = p.request
    sessions = req.sessions
    who = "whole market" if req.tickers is None else f"{len(req.tickers)} ticker(s)"
    lines = [
        f"{req.dataset}: {len(sessions)} session(s) {sessions[0]} .. {sessions[-1]}, {who}; "
        f"{p.credentials.describe()}",
        f"{'source':<14}{'sessions':>10}{'API calls':>12}{'S3 GETs':>10}{'est. size':>12}",
    ]
    for source, n in p.sessions_by_source.items():
        if not n:
            continue
        rows = [s for s in p.sessions if s.source == source]
        lines.append(
            f"{source:<14}{n:>10,}{sum(s.api_calls for s in rows):>12,}"
            f"{sum(s.s3_gets for s in rows):>10,}{_size(sum(s.est_bytes for s in rows)):>12}"
        )
    lines.append(
        f"{'total':<14}{len(p.sessions):>10,}{p.api_calls:>12,}{p.s3_gets:>10,}"
        f"{_size(p.est_bytes):>12}"
    )
    if p.skipped:
        lines.append(f"skipped, already stored: {len(p.skipped)} session(s) (use --force)")
    for reason in dict.fromkeys(s.reason for s in p.sessions if s.source == "unavailable"):
        lines.append(f"unavailable: {reason}")
    lines.append(f"least wall time at the rate limit: {_duration(p.min_wall_seconds)}")
    lines.append(
        f"old per-ticker path: {p.old_path_calls:,} calls "
        f"({_duration(p.old_path_min_wall_seconds)}); saved {p.calls_saved:,} calls"
    )
    return "\n".join(lines)
