"""`finance-pipeline demo`: the whole pipeline through a real Dagster instance, end to end.

Without POLYGON_API_KEY it starts the sandbox market (a few hundred tickers, about a month of
sessions ending at the newest partition) with its clock at 08:00 New York the morning after the
newest session: that session's flat files are not published yet, so the curated layer visibly
serves it from grouped daily and every older session from flat files. With a key it refuses
unless `--real` is given, then runs the same flow on the latest few sessions.

The planner (`runs.planner`) decides every run; this module only tells the story. The runs go
through `DagsterInstance.get()` (DAGSTER_HOME, default .demo/dagster_home) into the lake
(FINANCE_PIPELINE_LAKE, default .demo/lake), so the UI (`make ui`) shows them afterwards. The
summary printed at the end is `status.format_status` of that instance and lake: exactly what
`finance-pipeline status` prints with the same environment.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finance_pipeline import router
from finance_pipeline.calendar import NEW_YORK, recent_sessions
from finance_pipeline.local_instance import get_instance, use_local_instance
from finance_pipeline.registry import (
    ALL_ASSETS,
    CORPORATE_ACTIONS,
    DAILY_BARS,
    MINUTE_BARS,
    UNIVERSE,
)
from finance_pipeline.runs.planner import Demand, RunPlan, plan_runs
from finance_pipeline.settings import env, watchlist

if TYPE_CHECKING:
    import dagster as dg

    from finance_pipeline.runs.execute import RunOutcome
    from finance_pipeline.sandbox import Sandbox

DEFAULT_TICKERS = 300
DEFAULT_SESSIONS = 21  # about a month
REAL_SESSIONS = 3
DEFAULT_SEED = 7
# The sandbox clock: the morning after the newest session, before its flat files are published.
SANDBOX_TIME = dt.time(8, 0)
SANDBOX_NOTE = (
    "The sandbox stops with the demo; `make ui` starts the same market again behind the UI."
)
Say = Callable[[str], None]


class DemoError(RuntimeError):
    """The demo cannot run as asked; the message says why and what to do."""


def run_demo(
    *,
    real: bool = False,
    tickers: int = DEFAULT_TICKERS,
    sessions: int = DEFAULT_SESSIONS,
    seed: int = DEFAULT_SEED,
    force: bool = False,
    say: Say = print,
) -> int:
    """Run the demo; returns the exit code: 0 when every asset was materialized (failed checks
    are reported in the summary, not fatal), 1 otherwise."""
    if env("POLYGON_API_KEY") and not real:
        raise DemoError(
            "POLYGON_API_KEY is set, and the demo would spend that key's Polygon quota; "
            "run `finance-pipeline demo --real` to do so, or unset POLYGON_API_KEY to use the "
            "local sandbox market"
        )
    if real and not env("POLYGON_API_KEY"):
        raise DemoError("--real needs POLYGON_API_KEY (and FLATFILES_* for flat files)")
    if tickers < 10 or sessions < 2:
        raise DemoError("the demo needs at least 10 tickers and 2 sessions")
    home, lake = use_local_instance()
    now = dt.datetime.now(dt.UTC)
    if real:
        days = recent_sessions(now, REAL_SESSIONS)
        say(f"Real Polygon: the latest {len(days)} sessions {days[0]}..{days[-1]}")
        return _run(days, now, home, lake, say, sandbox_note=None, force=force)
    days = recent_sessions(now, sessions)
    with demo_sandbox(tickers, seed, days, home, say) as sandbox:
        os.environ.update(sandbox.env())
        return _run(days, sandbox.now, home, lake, say, SANDBOX_NOTE, force, market_size=tickers)


def demo_sandbox(
    tickers: int, seed: int, days: list[dt.date], home: Path, say: Say, end: dt.date | None = None
) -> Sandbox:
    """The demo's market: `days` of history, its clock at 08:00 New York the day after the last
    one, so that session's flat files are not published yet (grouped daily serves it). `end`
    extends the market past `days` (sessions that trade once a running clock reaches them)."""
    from finance_pipeline.sandbox import Sandbox

    clock = dt.datetime.combine(days[-1] + dt.timedelta(days=1), SANDBOX_TIME, NEW_YORK)
    say(
        f"Starting the sandbox market: {tickers} tickers, seed {seed}, sessions "
        f"{days[0]}..{days[-1]} ({len(days)}), clock {clock:%Y-%m-%d %H:%M} New York"
    )
    return Sandbox(
        tickers=tickers,
        seed=seed,
        start=days[0],
        end=end or days[-1],
        now=clock,
        plan="paid",
        cache_dir=home.parent / "sandbox_cache",
    )


def demo_demands() -> list[Demand]:
    """The whole market's universe, daily bars and corporate actions, and the watchlist's
    minute bars (flat files where published, per-ticker REST where not)."""
    return [
        Demand(UNIVERSE),
        Demand(DAILY_BARS),
        Demand(MINUTE_BARS, watchlist() or None),
        Demand(CORPORATE_ACTIONS),
    ]


def _run(
    days: list[dt.date],
    now: dt.datetime,
    home: Path,
    lake: str,
    say: Say,
    sandbox_note: str | None,
    force: bool = False,
    market_size: int = router.DEFAULT_MARKET_SIZE,
) -> int:

    from finance_pipeline.definitions import build_definitions
    from finance_pipeline.lake import lake_from_env
    from finance_pipeline.runs.stored import in_lake_and_instance
    from finance_pipeline.status import format_status, status_of

    defs = build_definitions()
    instance = get_instance()
    say(f"Dagster instance: {home}\nLake: {lake}")
    stored = {} if force else in_lake_and_instance(instance, lake_from_env(), ALL_ASSETS)
    plan = plan_runs(
        demo_demands(),
        days,
        now,
        router.Credentials.from_env(),
        stored=stored,
        force=force,
        reconcile=True,
        market_size=market_size,
    )
    _say_quote(plan, say)
    try:
        outcomes = _execute(defs, instance, plan, say)
        summary = status_of(lake_from_env(), instance, defs.resolve_asset_graph())
    finally:
        instance.dispose()
    say("\n" + "=" * 100)
    say("Summary (the same as `finance-pipeline status` with the environment below)")
    say("=" * 100)
    say(format_status(summary))
    say("")
    return _say_outcome(plan, now, outcomes, home, lake, say, sandbox_note)


def _say_quote(plan: RunPlan, say: Say) -> None:
    say(
        f"Router's quote for the sources to fetch: {plan.api_calls:,} API calls "
        "(the reconciliation checks add a few per grouped-daily session)"
    )
    if plan.skipped:
        say(
            f"{plan.skipped} partition(s) already stored and materialized: skipped "
            "(finance-pipeline demo --force fetches them again)"
        )


def _execute(
    defs: dg.Definitions, instance: dg.DagsterInstance, plan: RunPlan, say: Say
) -> list[RunOutcome]:
    from finance_pipeline.runs.execute import execute, planned_runs

    batches = planned_runs(defs, plan)
    total = sum(len(specs) for _, specs in batches)
    outcomes: list[RunOutcome] = []

    def report(outcome: RunOutcome) -> None:
        say(
            f"  [{len(outcomes) + 1}/{total}] {outcome.spec.label()}: {outcome.describe()} "
            f"({outcome.seconds:.1f} s)"
        )
        outcomes.append(outcome)

    for title, specs in batches:
        say(f"{title}: {len(specs)} run(s)")
        execute(defs, instance, specs, report, tags={"finance_pipeline/demo": "1"})
    return outcomes


def _say_outcome(
    plan: RunPlan,
    now: dt.datetime,
    outcomes: list[RunOutcome],
    home: Path,
    lake: str,
    say: Say,
    sandbox_note: str | None,
) -> int:
    grouped = [d for d, s in plan.sources(DAILY_BARS).items() if s == "grouped_daily"]
    if grouped:
        say(
            f"Newest session(s) {', '.join(map(str, grouped))}: flat files not published yet at "
            f"{now.astimezone(NEW_YORK):%Y-%m-%d %H:%M} New York, so daily_bars used grouped daily "
            "(1 call); every older session came from a flat file (0 calls)."
        )
    broken = [o for o in outcomes if not o.materialized]
    checked = [o for o in outcomes if o.materialized and not o.success]
    say(
        f"Runs: {len(outcomes)}; {len(outcomes) - len(broken) - len(checked)} green, "
        f"{len(checked)} stopped by a failed blocking check (assets stored, downstream held "
        f"back), {len(broken)} failed to materialize."
    )
    for outcome in checked + broken:
        say(f"  {outcome.spec.label()} (run {outcome.run_id}): {outcome.describe()}")
    say("\nNext:")
    say(f"  export DAGSTER_HOME={home} FINANCE_PIPELINE_LAKE={lake}")
    say("  finance-pipeline status")
    say(
        '  finance-pipeline query "select session, source, count(*) as tickers '
        'from daily_bars group by all order by session"'
    )
    say(
        f"  DAGSTER_HOME={home} FINANCE_PIPELINE_LAKE={lake} make ui"
        "    # the Dagster UI on the same instance and lake, sandbox included"
    )
    if sandbox_note:
        say(f"  {sandbox_note}")
    return 1 if broken else 0
