"""What a schedule tick should fetch, decided by the router (plain Python, no Dagster).

Partitions use `end_offset=0`: the partition of session D exists from 00:00 New York on D+1.
A tick on New York day C can therefore ask for C-1 at the latest, and only if C-1 was a session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from finance_pipeline import router
from finance_pipeline.calendar import (
    SessionError,
    is_session,
    new_york_date,
    previous_session,
    sessions_between,
)

UNIVERSE = "universe_snapshot"
GROUPED_DAILY = "grouped_daily_bars"
REST_FILLS = "rest_fills"
SPLITS = "splits"
DIVIDENDS = "dividends"
FLAT_DAY = "flat_file_day_aggs"
FLAT_MINUTE = "flat_file_minute_aggs"

# What the daily schedule may run, in the order runs list them.
DAILY_ASSETS = (UNIVERSE, GROUPED_DAILY, REST_FILLS, SPLITS, DIVIDENDS)
# Flat-file dataset (S3 key layout) -> the asset that loads it.
FLAT_FILE_ASSETS = {"day_aggs_v1": FLAT_DAY, "minute_aggs_v1": FLAT_MINUTE}
# Source the router picks for daily bars -> the asset that fetches it.
DAILY_BARS_ASSETS: dict[str, str] = {"grouped_daily": GROUPED_DAILY, "flat_file": FLAT_DAY}


def aware(moment: dt.datetime) -> dt.datetime:
    """Schedules may hand over naive times; Dagster's naive times are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def session_ended_before(tick: dt.datetime) -> dt.date | None:
    """The session whose partition opened at the start of the tick's New York day: the day
    before, if that day was a session, else None (weekend, holiday, one-off closure)."""
    day = new_york_date(aware(tick)) - dt.timedelta(days=1)
    return day if is_session(day) else None


def recent_sessions(now: dt.datetime, count: int) -> list[dt.date]:
    """The newest `count` sessions whose partitions exist at `now` (oldest first)."""
    if count < 1:
        raise ValueError(f"count must be positive, got {count}")
    try:
        last = previous_session(new_york_date(aware(now)))
    except SessionError:
        return []
    # Two calendar days per session plus two weeks is more than any run of closures needs.
    return sessions_between(last - dt.timedelta(days=2 * count + 14), last)[-count:]


@dataclass(frozen=True)
class DailyTargets:
    """The assets to run for one session and why; `sources` names every candidate asset with
    its planned source, or `skip (<source>)` when it is left out."""

    session: dt.date
    assets: tuple[str, ...]
    sources: dict[str, str]
    api_calls: int
    reasons: dict[str, str] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        return {
            "finance_pipeline/session": self.session.isoformat(),
            "finance_pipeline/planned_sources": ",".join(
                f"{asset}={source}" for asset, source in self.sources.items()
            ),
            "finance_pipeline/planned_api_calls": str(self.api_calls),
        }


def plan_daily(
    session: dt.date,
    now: dt.datetime,
    credentials: router.Credentials,
    watchlist: tuple[str, ...] = (),
) -> DailyTargets:
    """Ask the router how to serve `session` at `now` and keep the assets it routes to.

    - grouped_daily_bars only when daily bars route to grouped daily (a published flat file is
      loaded by the flat-file sensor instead, 0 API calls);
    - rest_fills only when the watchlist's minute bars route to per-ticker REST;
    - universe_snapshot, splits and dividends when the reference endpoints serve the session.
    """
    now = aware(now)

    def route(dataset: router.Dataset, tickers: tuple[str, ...] | None) -> router.SessionPlan:
        request = router.Request(dataset, (session,), tickers, now, force=True)
        return router.plan(request, credentials).sessions[0]

    routes: dict[str, router.SessionPlan] = {UNIVERSE: route("universe", None)}
    routes[GROUPED_DAILY] = route("daily_bars", None)
    if watchlist:
        routes[REST_FILLS] = route("minute_bars", watchlist)
    actions = route("corporate_actions", None)
    routes[SPLITS] = routes[DIVIDENDS] = actions

    wanted = {
        UNIVERSE: "reference",
        GROUPED_DAILY: "grouped_daily",
        REST_FILLS: "rest",
        SPLITS: "reference",
        DIVIDENDS: "reference",
    }
    assets, sources, reasons = [], {}, {}
    api_calls = 0
    for asset in DAILY_ASSETS:
        if asset not in routes:
            sources[asset] = "skip (empty watchlist)"
            continue
        planned = routes[asset]
        if planned.source == wanted[asset]:
            assets.append(asset)
            sources[asset] = planned.source
            if asset != DIVIDENDS:  # splits and dividends share one plan and its calls
                api_calls += planned.api_calls
        else:
            sources[asset] = f"skip ({planned.source})"
            reasons[asset] = planned.reason
    return DailyTargets(session, tuple(assets), sources, api_calls, reasons)


@dataclass(frozen=True)
class Correction:
    session: dt.date
    asset: str
    source: str


def plan_corrections(
    now: dt.datetime, count: int, credentials: router.Credentials
) -> tuple[list[Correction], dict[dt.date, str]]:
    """Daily bars of the newest `count` sessions, each from the source the router picks now.

    Returns what to re-fetch and, for sessions left out, why (no source serves them yet).
    """
    sessions = recent_sessions(now, count)
    if not sessions:
        return [], {}
    planned = router.plan(
        router.Request("daily_bars", sessions, None, aware(now), force=True), credentials
    )
    todo, left_out = [], {}
    for item in planned.sessions:
        asset = DAILY_BARS_ASSETS.get(item.source)
        if asset is None:
            left_out[item.session] = f"{item.source}: {item.reason}"
        else:
            todo.append(Correction(item.session, asset, item.source))
    return todo, left_out
