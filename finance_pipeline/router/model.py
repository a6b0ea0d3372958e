"""The router's request and plan types: what a caller asks for (`Request`, `Credentials`) and
what the router answers (`Plan`, one `SessionPlan` per session), with the validation that
turns a bad request into an `InvalidRequest` naming the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from finance_pipeline.calendar import SessionError, parse_session
from finance_pipeline.registry import DATASETS, SOURCES, Dataset, Source
from finance_pipeline.router.rules import DEFAULT_MARKET_SIZE, min_wall_seconds
from finance_pipeline.settings import env


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
TICKER_SYMBOL = re.compile(r"[A-Za-z0-9]+(?:[.\-][A-Za-z0-9]+)*")


def _valid_tickers(tickers: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tickers, str):
        raise InvalidRequest(f"tickers must be a sequence of symbols, not the string {tickers!r}")
    clean: dict[str, None] = {}
    for ticker in tickers:
        if not isinstance(ticker, str) or not ticker.strip():
            raise InvalidRequest(f"tickers must be non-empty strings, got {ticker!r}")
        if not TICKER_SYMBOL.fullmatch(ticker.strip()):
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
        counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
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
