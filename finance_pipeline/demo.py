"""`finance-pipeline demo`: the whole pipeline through a real Dagster instance, end to end.

Without POLYGON_API_KEY it starts the sandbox market (a few hundred tickers, about a month of
sessions ending at the newest partition) with its clock at 08:00 New York the morning after the
newest session: that session's flat files are not published yet, so the curated layer visibly
serves it from grouped daily and every older session from flat files. With a key it refuses
unless `--real` is given, then runs the same flow on the latest few sessions.

The runs go through `DagsterInstance.get()` (DAGSTER_HOME, default .demo/dagster_home) into the
lake (FINANCE_PIPELINE_LAKE, default .demo/lake), so the UI (`make ui`) shows them afterwards.
The summary printed at the end is `status.format_status` of that instance and lake: exactly
what `finance-pipeline status` prints with the same environment.

Also here: the small engine that executes runs in this process (`run_specs`, `execute`), shared
with `finance-pipeline backfill --in-process`.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finance_pipeline import router
from finance_pipeline.calendar import (
    NEW_YORK,
    new_york_date,
    previous_session,
    sessions_between,
)
from finance_pipeline.redaction import redact
from finance_pipeline.settings import env

if TYPE_CHECKING:
    import dagster as dg

    from finance_pipeline.sandbox import Sandbox

DEFAULT_HOME = Path(".demo/dagster_home")
DEFAULT_LAKE = Path(".demo/lake")
DEFAULT_TICKERS = 300
DEFAULT_SESSIONS = 21  # about a month
REAL_SESSIONS = 3
DEFAULT_SEED = 7
# The sandbox clock: the morning after the newest session, before its flat files are published.
SANDBOX_TIME = dt.time(8, 0)
# The single-machine instance config (run queue, backfill and pool limits, run monitoring).
LOCAL_INSTANCE_YAML = Path(__file__).with_name("local_instance.yaml")
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
UNLIMITED = 1_000_000
DEMO_ASSETS = (
    "universe_snapshot",
    "grouped_daily_bars",
    "rest_fills",
    "flat_file_day_aggs",
    "flat_file_minute_aggs",
    "splits",
    "dividends",
    "daily_bars",
    "minute_bars",
)


class DemoError(RuntimeError):
    """The demo cannot run as asked; the message says why and what to do."""


# ----------------------------------------------------------------------------- run engine


@dataclass(frozen=True)
class RunSpec:
    """One run: these assets (and their checks) over one contiguous range of sessions."""

    assets: tuple[str, ...]
    sessions: tuple[dt.date, ...]
    run_config: Mapping[str, Any] | None = None

    def label(self) -> str:
        first, last = self.sessions[0], self.sessions[-1]
        span = str(first) if first == last else f"{first}..{last} ({len(self.sessions)} sessions)"
        return f"{', '.join(self.assets)} {span}"


@dataclass(frozen=True)
class RunOutcome:
    """`success`: Dagster's verdict on the run. A blocking check failing at ERROR fails the run
    too, though every asset was materialized: `asset_errors` lists only failed asset steps,
    `failed_checks` the blocking checks that failed."""

    spec: RunSpec
    run_id: str
    success: bool
    seconds: float
    asset_errors: tuple[str, ...] = ()
    failed_checks: tuple[str, ...] = ()

    @property
    def materialized(self) -> bool:
        return not self.asset_errors

    def describe(self) -> str:
        if self.success:
            return "ok"
        parts = list(self.asset_errors)
        if self.failed_checks:
            parts.append(f"blocking check(s) failed: {', '.join(self.failed_checks)}")
        return redact("FAILED: " + ("; ".join(parts) or "the run failed"))


def current_defs() -> dg.Definitions:
    """The code location's definitions with resources built from the environment as it is
    now: `finance_pipeline.definitions` reads it once, at import, and the demo (or a test)
    may change it afterwards."""
    import dagster as dg

    from finance_pipeline.definitions import defs
    from finance_pipeline.resources import resources_from_env

    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        schedules=defs.schedules,
        sensors=defs.sensors,
        jobs=defs.jobs,
        resources={**(defs.resources or {}), **resources_from_env()},
        executor=defs.executor,
        loggers=defs.loggers,
    )


def sessions_per_run(defs: dg.Definitions, asset: str) -> int:
    """How many partitions one run of `asset` may hold, from its backfill policy."""
    import dagster as dg

    policy = defs.resolve_assets_def(dg.AssetKey(asset)).backfill_policy
    if policy is None:
        return 1
    return policy.max_partitions_per_run or UNLIMITED


def contiguous(sessions: Sequence[dt.date]) -> list[list[dt.date]]:
    """Sorted sessions split wherever a session in between is left out (a range run covers
    every partition between its ends)."""
    ordered = sorted(set(sessions))
    if not ordered:
        return []
    all_sessions = sessions_between(ordered[0], ordered[-1])
    position = {day: i for i, day in enumerate(all_sessions)}
    groups: list[list[dt.date]] = [[ordered[0]]]
    for day in ordered[1:]:
        if position[day] == position[groups[-1][-1]] + 1:
            groups[-1].append(day)
        else:
            groups.append([day])
    return groups


def run_specs(
    defs: dg.Definitions,
    targets: Mapping[str, Sequence[dt.date]],
    run_config: Mapping[str, Any] | None = None,
) -> list[RunSpec]:
    """Runs covering `targets` (asset -> sessions), as few as the backfill policies allow:
    assets with the same sessions and run size share runs, ranges are cut to the run size."""
    groups: dict[tuple[tuple[dt.date, ...], int], list[str]] = {}
    for asset, days in targets.items():
        if days:
            key = (tuple(sorted(set(days))), sessions_per_run(defs, asset))
            groups.setdefault(key, []).append(asset)
    specs = []
    for (days, size), assets in groups.items():
        for block in contiguous(days):
            for i in range(0, len(block), size):
                specs.append(RunSpec(tuple(assets), tuple(block[i : i + size]), run_config))
    return specs


_CHECK_FAILED = "DagsterAssetCheckFailedError"


def _failures(result: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(failed asset steps with their first error line, failed blocking checks) of a run."""
    asset_errors = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            if error is not None and error.cls_name == _CHECK_FAILED:
                continue  # reported below, check by check
            while error is not None and error.cause is not None:
                error = error.cause  # Dagster wraps the asset's own error: report the cause
            first_line = (error.message if error else "failed").strip().splitlines()[0]
            asset_errors.append(redact(f"{event.step_key}: {first_line}"))
    checks = [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.blocking and e.severity.value == "ERROR"
    ]
    return tuple(asset_errors), tuple(dict.fromkeys(checks))


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    specs: Sequence[RunSpec],
    on_done: Callable[[RunOutcome], None] | None = None,
    tags: Mapping[str, str] | None = None,
    log_level: str = "CRITICAL",
) -> list[RunOutcome]:
    """Execute each run in this process against `instance`; a failed run does not stop the
    others (later runs may still have what they need). Console logs below `log_level` are
    left to the instance's event log (the UI shows them)."""
    import dagster as dg

    job = defs.resolve_implicit_global_asset_job_def()
    outcomes = []
    for spec in specs:
        subset = job.get_subset(asset_selection={dg.AssetKey(a) for a in spec.assets})
        run_tags = dict(tags or {})
        kwargs: dict[str, Any] = {}
        if len(spec.sessions) == 1:
            kwargs["partition_key"] = spec.sessions[0].isoformat()
        else:
            run_tags[RANGE_START_TAG] = spec.sessions[0].isoformat()
            run_tags[RANGE_END_TAG] = spec.sessions[-1].isoformat()
        started = time.monotonic()
        run_config = {
            **dict(spec.run_config or {}),
            "loggers": {"console": {"config": {"log_level": log_level}}},
        }
        result = subset.execute_in_process(
            run_config=run_config,
            instance=instance,
            tags=run_tags,
            raise_on_error=False,
            **kwargs,
        )
        asset_errors, failed_checks = _failures(result)
        if not result.success and not asset_errors and not failed_checks:
            asset_errors = ("the run failed before any step (see the run in the UI)",)
        outcome = RunOutcome(
            spec,
            result.run_id,
            result.success,
            time.monotonic() - started,
            asset_errors if not result.success else (),
            failed_checks,
        )
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes


# ----------------------------------------------------------------------------- the demo


@dataclass
class DemoPlan:
    """What the demo runs, in order, and the source the router chose per session."""

    sessions: list[dt.date]
    now: dt.datetime
    phases: list[tuple[str, dict[str, list[dt.date]], dict[str, Any] | None]] = field(
        default_factory=list
    )
    daily_sources: dict[dt.date, str] = field(default_factory=dict)
    minute_sources: dict[dt.date, str] = field(default_factory=dict)
    skipped: int = 0  # partitions already stored
    api_calls: int = 0  # the router's quote for the raw partitions to fetch (checks not included)


def newest_partition(now: dt.datetime) -> dt.date:
    """The newest trading-session partition at `now`: partitions open at 00:00 New York the day
    after their session (end_offset=0), so it is the last session before today in New York."""
    return previous_session(new_york_date(now))


def last_sessions(end: dt.date, count: int) -> list[dt.date]:
    return sessions_between(end - dt.timedelta(days=2 * count + 14), end)[-count:]


def demo_plan(
    sessions: list[dt.date],
    now: dt.datetime,
    watchlist: tuple[str, ...],
    stored: Mapping[str, set[dt.date]] | None = None,
    market_size: int = router.DEFAULT_MARKET_SIZE,
) -> DemoPlan:
    """Ask the router, at `now` (the sandbox clock), which source serves each session, and
    lay out the runs: API sources per session, flat files in ranges, then the curated layer.

    Grouped daily and the universe are fetched for every session (one call each) so the checks
    can reconcile the flat files against them; REST minute fills only where the router sends
    the watchlist's minutes to REST (the newest session, whose minute file is not out yet).
    Partitions in `stored` (asset -> sessions) are skipped; a curated session runs when it is
    not stored or when one of its sources runs now (a better source may have arrived).
    """
    stored = stored or {}
    creds = router.Credentials.from_env()
    daily = router.plan(router.Request("daily_bars", sessions, None, now, force=True), creds)
    minute = router.plan(router.Request("minute_bars", sessions, watchlist, now, force=True), creds)
    demo = DemoPlan(sessions, now)
    demo.daily_sources = {s.session: s.source for s in daily.sessions}
    demo.minute_sources = {s.session: s.source for s in minute.sessions}
    servable = [d for d in sessions if demo.daily_sources[d] != "unavailable"]
    rest = minute.sessions_for("rest")
    wanted = {
        "universe_snapshot": servable,
        "grouped_daily_bars": servable,
        "rest_fills": rest,
        "flat_file_day_aggs": daily.sessions_for("flat_file"),
        "splits": servable,
        "dividends": servable,
        "flat_file_minute_aggs": minute.sessions_for("flat_file"),
    }
    todo = {a: [d for d in days if d not in stored.get(a, set())] for a, days in wanted.items()}
    demo.skipped = sum(len(wanted[a]) - len(todo[a]) for a in wanted)

    def curated(dataset: router.Dataset, days: list[dt.date]) -> list[dt.date]:
        refreshed = {d for _, raw in router.stored_sources(dataset) for d in todo.get(raw, [])}
        keep = [d for d in days if d in refreshed or d not in stored.get(dataset, set())]
        demo.skipped += len(days) - len(keep)
        return keep

    demo.api_calls = _estimate(todo, watchlist, now, creds, market_size)
    demo.phases.append(
        (
            "API sources, one run per session",
            {
                "universe_snapshot": todo["universe_snapshot"],
                "grouped_daily_bars": todo["grouped_daily_bars"],
            },
            None,
        )
    )
    # rest_fills asks the router with the real clock; the sandbox's clock is earlier, so tell
    # it the fetch is wanted (the demo's router call above already decided).
    force = {"ops": {"rest_fills": {"config": {"force": True}}}}
    demo.phases.append(("REST minute fills (watchlist)", {"rest_fills": todo["rest_fills"]}, force))
    demo.phases.append(
        (
            "day flat files and corporate actions, range runs",
            {name: todo[name] for name in ("flat_file_day_aggs", "splits", "dividends")},
            None,
        )
    )
    demo.phases.append(
        (
            "minute flat files, range runs",
            {"flat_file_minute_aggs": todo["flat_file_minute_aggs"]},
            None,
        )
    )
    demo.phases.append(
        (
            "curated layer, range runs",
            {
                "daily_bars": curated("daily_bars", servable),
                "minute_bars": curated("minute_bars", minute.sessions_for("flat_file")),
            },
            None,
        )
    )
    # Its own run: REST fills hold only the watchlist, and a check on that session must not be
    # judged together with the whole-market flat-file sessions.
    demo.phases.append(
        ("curated minute bars from REST fills", {"minute_bars": curated("minute_bars", rest)}, None)
    )
    return demo


def _estimate(
    todo: Mapping[str, list[dt.date]],
    watchlist: tuple[str, ...],
    now: dt.datetime,
    creds: router.Credentials,
    market_size: int,
) -> int:
    """The router's API-call quote for the raw partitions the demo will fetch. Grouped daily
    is fetched for every session (the router would send published ones to flat files): one
    call each."""
    quotes: list[tuple[router.Dataset, str, tuple[str, ...] | None]] = [
        ("universe", "universe_snapshot", None),
        ("minute_bars", "rest_fills", watchlist),
        ("corporate_actions", "splits", None),
    ]
    calls = len(todo.get("grouped_daily_bars", []))
    for dataset, asset, tickers in quotes:
        if todo.get(asset):
            request = router.Request(
                dataset, todo[asset], tickers, now, force=True, market_size=market_size
            )
            calls += router.plan(request, creds).api_calls
    return calls


def stored_partitions(
    instance: dg.DagsterInstance, lake: Any, assets: Sequence[str]
) -> dict[str, set[dt.date]]:
    """Per asset, the sessions both in the lake and materialized in the instance."""
    import dagster as dg

    stored = {}
    for asset in assets:
        keys = instance.get_materialized_partitions(dg.AssetKey(asset))
        in_lake = set(lake.stored_sessions(asset))
        stored[asset] = {d for d in in_lake if d.isoformat() in keys}
    return stored


def _prepare_home(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_YAML.read_text())


def _paths() -> tuple[Path, str]:
    """DAGSTER_HOME and FINANCE_PIPELINE_LAKE, or the demo's defaults, made absolute."""
    home = Path(os.environ.get("DAGSTER_HOME", "").strip() or DEFAULT_HOME).expanduser()
    lake = os.environ.get("FINANCE_PIPELINE_LAKE", "").strip() or str(DEFAULT_LAKE)
    if not lake.startswith("s3://"):
        lake = str(Path(lake).expanduser().absolute())
    return home.absolute(), lake


def run_demo(
    *,
    real: bool = False,
    tickers: int = DEFAULT_TICKERS,
    sessions: int = DEFAULT_SESSIONS,
    seed: int = DEFAULT_SEED,
    force: bool = False,
    say: Callable[[str], None] = print,
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
    home, lake = _paths()
    _prepare_home(home)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["FINANCE_PIPELINE_LAKE"] = lake
    now = dt.datetime.now(dt.UTC)
    end = newest_partition(now)
    if real:
        days = last_sessions(end, REAL_SESSIONS)
        say(f"Real Polygon: the latest {len(days)} sessions {days[0]}..{days[-1]}")
        return _run(days, now, home, lake, say, sandbox_note=None, force=force)

    days = last_sessions(end, sessions)
    with demo_sandbox(tickers, seed, days, home, say) as sandbox:
        os.environ.update(sandbox.env())
        note = (
            "The sandbox stops with the demo; `make ui` starts the same market again behind the UI."
        )
        return _run(
            days, sandbox.now, home, lake, say, sandbox_note=note, force=force, market_size=tickers
        )


def demo_sandbox(
    tickers: int, seed: int, days: list[dt.date], home: Path, say: Callable[[str], None]
) -> Sandbox:
    """The demo's market: `days` of history, its clock at 08:00 New York the day after the last
    one, so that session's flat files are not published yet (grouped daily serves it)."""
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
        end=days[-1],
        now=clock,
        plan="paid",
        cache_dir=home.parent / "sandbox_cache",
    )


def run_ui(
    *,
    tickers: int = DEFAULT_TICKERS,
    sessions: int = DEFAULT_SESSIONS,
    seed: int = DEFAULT_SEED,
    port: int = 3000,
    say: Callable[[str], None] = print,
) -> int:
    """`dagster dev` on the demo's instance and lake; without POLYGON_API_KEY the demo's
    sandbox market runs behind it, so materializations and backfills from the UI work."""
    home, lake = _paths()
    _prepare_home(home)
    os.environ.update({"DAGSTER_HOME": str(home), "FINANCE_PIPELINE_LAKE": lake})
    command = [sys.executable, "-m", "dagster", "dev", "-m", "finance_pipeline.definitions"]
    command += ["-p", str(port)]
    if env("POLYGON_API_KEY"):
        return _run_until_stopped(command)
    days = last_sessions(newest_partition(dt.datetime.now(dt.UTC)), sessions)
    with demo_sandbox(tickers, seed, days, home, say) as sandbox:
        os.environ.update(sandbox.env())
        say(f"Dagster UI on http://127.0.0.1:{port} (instance {home}, lake {lake}); Ctrl-C stops")
        return _run_until_stopped(command)


def _run_until_stopped(command: list[str]) -> int:
    """Run `command`; Ctrl-C or SIGTERM stop it too, so no `dagster dev` outlives us."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    child = subprocess.Popen(command)
    try:
        return child.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()


def _run(
    days: list[dt.date],
    now: dt.datetime,
    home: Path,
    lake: str,
    say: Callable[[str], None],
    sandbox_note: str | None,
    force: bool = False,
    market_size: int = router.DEFAULT_MARKET_SIZE,
) -> int:
    import dagster as dg

    from finance_pipeline import status as status_mod
    from finance_pipeline.assets.rest_fills import watchlist
    from finance_pipeline.lake import lake_from_env

    defs = current_defs()
    instance = dg.DagsterInstance.get()
    say(f"Dagster instance: {home}\nLake: {lake}")
    stored = {} if force else stored_partitions(instance, lake_from_env(), DEMO_ASSETS)
    plan = demo_plan(days, now, tuple(watchlist(None)), stored, market_size)
    all_specs = [
        (title, run_specs(defs, targets, config)) for title, targets, config in plan.phases
    ]
    all_specs = [(title, specs) for title, specs in all_specs if specs]
    total = sum(len(specs) for _, specs in all_specs)
    say(
        f"Router's quote for the sources to fetch: {plan.api_calls:,} API calls "
        "(the reconciliation checks add a few per grouped-daily session)"
    )
    if plan.skipped:
        say(
            f"{plan.skipped} partition(s) already stored and materialized: skipped "
            "(finance-pipeline demo --force fetches them again)"
        )
    done = 0
    outcomes: list[RunOutcome] = []

    def report(outcome: RunOutcome) -> None:
        nonlocal done
        done += 1
        say(
            f"  [{done}/{total}] {outcome.spec.label()}: {outcome.describe()} "
            f"({outcome.seconds:.1f} s)"
        )

    try:
        for title, specs in all_specs:
            say(f"{title}: {len(specs)} run(s)")
            outcomes += execute(defs, instance, specs, report, tags={"finance_pipeline/demo": "1"})
        summary = status_mod.status_of(lake_from_env(), instance, defs.resolve_asset_graph())
    finally:
        instance.dispose()

    grouped = [d for d, s in plan.daily_sources.items() if s == "grouped_daily"]
    say("")
    say("=" * 100)
    say("Summary (the same as `finance-pipeline status` with the environment below)")
    say("=" * 100)
    say(status_mod.format_status(summary))
    say("")
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
    say("")
    say("Next:")
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
