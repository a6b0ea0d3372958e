"""What a schedule tick should fetch, decided by the one planner (plain Python, no Dagster).

Partitions use `end_offset=0`: the partition of session D exists from 00:00 New York on D+1.
A tick on New York day C can therefore ask for C-1 at the latest, and only if C-1 was a session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from finance_pipeline import router
from finance_pipeline.calendar import is_session, new_york_date, recent_sessions
from finance_pipeline.registry import (
    API_ASSETS,
    CORPORATE_ACTIONS,
    DAILY_BARS,
    MINUTE_BARS,
    SOURCE_ASSETS,
    UNIVERSE,
    dataset_of,
)
from finance_pipeline.runs.planner import Demand, RunPlan, plan_runs


def aware(moment: dt.datetime) -> dt.datetime:
    """Schedules may hand over naive times; Dagster's naive times are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def session_ended_before(tick: dt.datetime) -> dt.date | None:
    """The session whose partition opened at the start of the tick's New York day: the day
    before, if that day was a session, else None (weekend, holiday, one-off closure)."""
    day = new_york_date(aware(tick)) - dt.timedelta(days=1)
    return day if is_session(day) else None


@dataclass(frozen=True)
class DailyTargets:
    """The API-served assets to run for one session and why; `sources` names every candidate
    asset with its planned source, or `skip (<source>)` when it is left out."""

    session: dt.date
    assets: tuple[str, ...]
    sources: dict[str, str]
    api_calls: int
    run_config: dict[str, Any] | None = None
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
    """The planner's runs for `session` at `now`, kept to the API-served assets: grouped daily
    only where daily bars route to it (a published flat file is the flat-file sensor's),
    REST fills for the watchlist where its minute bars route to REST, universe and corporate
    actions where the reference endpoints serve the session."""
    demands = [Demand(UNIVERSE), Demand(DAILY_BARS), Demand(CORPORATE_ACTIONS)]
    if watchlist:
        demands.append(Demand(MINUTE_BARS, watchlist))
    plan = plan_runs(demands, [session], aware(now), credentials, force=True)
    assets = tuple(a for a in API_ASSETS if a in plan.targets)
    sources, reasons = _explain(plan, session)
    api_calls = plan.api_calls if assets else 0
    return DailyTargets(session, assets, sources, api_calls, plan.run_config(assets), reasons)


def _explain(plan: RunPlan, session: dt.date) -> tuple[dict[str, str], dict[str, str]]:
    sources, reasons = {}, {}
    for asset in API_ASSETS:
        route = plan.routes.get(dataset_of(asset))
        if route is None:
            sources[asset] = "skip (empty watchlist)"
            continue
        (planned,) = (s for s in route.sessions if s.session == session)
        if asset in plan.targets:
            sources[asset] = planned.source
        else:
            sources[asset] = f"skip ({planned.source})"
            reasons[asset] = planned.reason
    return sources, reasons


@dataclass(frozen=True)
class Correction:
    session: dt.date
    asset: str
    source: str


def plan_corrections(
    now: dt.datetime, count: int, credentials: router.Credentials
) -> tuple[list[Correction], dict[dt.date, str]]:
    """Daily bars of the newest `count` sessions, each from the source the planner picks now.

    Returns what to re-fetch and, for sessions left out, why (no source serves them yet).
    """
    sessions = recent_sessions(aware(now), count)
    if not sessions:
        return [], {}
    plan = plan_runs([Demand(DAILY_BARS)], sessions, aware(now), credentials, force=True)
    todo, left_out = [], {}
    for item in plan.routes[DAILY_BARS].sessions:
        (asset, *_) = SOURCE_ASSETS[DAILY_BARS].get(item.source, (None,))
        if asset is None:
            left_out[item.session] = f"{item.source}: {item.reason}"
        else:
            todo.append(Correction(item.session, asset, item.source))
    return todo, left_out
