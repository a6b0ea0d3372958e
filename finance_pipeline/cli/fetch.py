"""`plan` quotes a download, `backfill` runs it: both ask the one planner (`runs.planner`)."""

from __future__ import annotations

import datetime as dt
import json
import sys

import click

from finance_pipeline import router
from finance_pipeline.calendar import newest_partition, parse_session_range
from finance_pipeline.cli.app import (
    FAILED,
    INTERRUPTED,
    CliError,
    cli,
    domain_errors,
    now,
    open_instance,
    open_lake,
)
from finance_pipeline.registry import DAILY_BARS, DATASETS, MINUTE_BARS, Dataset, assets_of
from finance_pipeline.runs.planner import Demand, RunPlan, plan_runs
from finance_pipeline.runs.stored import lake_state
from finance_pipeline.settings import env, watchlist

DATASET_CHOICE = click.Choice(DATASETS)
CONFIRM_CALLS = 500  # planned API calls above which backfill asks first
ALL_STORED = "all stored (use --force)"


def _tickers(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    tickers = tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    if not tickers:
        raise CliError("--tickers is empty: give comma-separated symbols, e.g. AAPL,BRK.A")
    return tickers


def _plan(
    start: str, end: str, dataset: Dataset, tickers: tuple[str, ...] | None, force: bool
) -> RunPlan:
    for name, value in (("START", start), ("END", end)):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise CliError(f"{name} {value!r} is not a date in YYYY-MM-DD form") from None
    moment = now()
    sessions = parse_session_range(start, end, now=moment)
    lake = open_lake()
    stored, bad_files = lake_state(lake, assets_of(dataset), sessions)
    for files in bad_files.values():
        for bad_file in files:
            click.echo(f"fetched again, it fails verification: {bad_file.text()}", err=True)
    bad = {asset: {f.session for f in files} for asset, files in bad_files.items()}
    credentials = router.Credentials.from_env()
    demand = Demand(dataset, tickers)
    return plan_runs([demand], sessions, moment, credentials, stored=stored, force=force, bad=bad)


@cli.command()
@click.argument("start")
@click.argument("end")
@click.option("--dataset", type=DATASET_CHOICE, default=DAILY_BARS, show_default=True)
@click.option("--tickers", help="Comma-separated symbols; default: the whole market.")
@click.option("--force", is_flag=True, help="Plan stored sessions too.")
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON.")
@domain_errors
def plan(
    start: str, end: str, dataset: Dataset, tickers: str | None, force: bool, as_json: bool
) -> None:
    """Quote a download: per session the source the router picks, API calls, S3 GETs, and the
    cost of the old per-ticker path. START and END are dates (YYYY-MM-DD), both included."""
    route = _plan(start, end, dataset, _tickers(tickers), force).routes[dataset]
    click.echo(json.dumps(route.to_dict(), indent=2) if as_json else router.format_plan(route))


@cli.command()
@click.argument("start")
@click.argument("end")
@click.option("--dataset", type=DATASET_CHOICE, default=DAILY_BARS, show_default=True)
@click.option("--force", is_flag=True, help="Fetch stored sessions again.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before spending many API calls.")
@click.option(
    "--in-process",
    is_flag=True,
    help="Execute the runs here (progress bar) instead of submitting a backfill to the daemon.",
)
@click.option("--max-calls", type=click.IntRange(min=0), help="Refuse plans above N API calls.")
@click.option(
    "--confirm-above",
    type=click.IntRange(min=0),
    default=CONFIRM_CALLS,
    show_default=True,
    help="Ask before planned API calls above this.",
)
@domain_errors
def backfill(
    start: str,
    end: str,
    dataset: Dataset,
    force: bool,
    yes: bool,
    in_process: bool,
    max_calls: int | None,
    confirm_above: int,
) -> int:
    """Fetch START..END the cheapest way, skipping stored sessions unless --force.

    Daily bars are whole-market; minute bars beyond the flat files are the watchlist's
    (FINANCE_PIPELINE_WATCHLIST) per-ticker REST fills. The curated layer follows.
    """
    tickers = (watchlist() or None) if dataset == MINUTE_BARS else None
    the_plan = _plan(start, end, dataset, tickers, force)
    route = the_plan.routes[dataset]
    click.echo(router.format_plan(route))
    if not the_plan.targets:
        unavailable = route.sessions_for("unavailable")
        click.echo(f"nothing to do: {'none available yet' if unavailable else ALL_STORED}")
        return 0
    _may_spend(the_plan.api_calls, max_calls, confirm_above, yes)
    _check_partitions_exist(the_plan)
    _need_key(the_plan.api_calls)
    if in_process:
        return _run_in_process(the_plan)
    return _submit(the_plan, dataset)


def _may_spend(calls: int, max_calls: int | None, confirm_above: int, yes: bool) -> None:
    if max_calls is not None and calls > max_calls:
        raise CliError(
            f"the plan needs {calls:,} API calls, above --max-calls {max_calls:,}; "
            "narrow the range or raise the limit"
        )
    if calls > confirm_above and not yes:
        click.confirm(f"Spend {calls:,} API calls?", abort=True, err=True)


def _need_key(calls: int) -> None:
    if calls and not env("POLYGON_API_KEY"):
        raise CliError(
            f"POLYGON_API_KEY is not set: the plan needs {calls:,} API calls "
            "(set it, or run `finance-pipeline sandbox` and export what it prints)"
        )


def _check_partitions_exist(the_plan: RunPlan) -> None:
    last = newest_partition(now())
    late = sorted({d for days in the_plan.targets.values() for d in days if d > last})
    if late:
        raise CliError(
            f"session {late[0]} has closed but its partition opens at 00:00 New York the next "
            f"day; the newest partition is {last}. Use END {last} or wait."
        )


def _submit(the_plan: RunPlan, dataset: str) -> int:
    from finance_pipeline.definitions import build_definitions
    from finance_pipeline.runs.backfill import daemon_is_running, submit_backfill

    instance = open_instance()
    try:
        backfill_id = submit_backfill(
            build_definitions(),
            instance,
            the_plan.targets,
            title=f"finance-pipeline backfill {dataset}",
            tags={"finance_pipeline/cli": "backfill", "finance_pipeline/dataset": dataset},
            run_config=the_plan.run_config(the_plan.assets),
        )
        daemon = daemon_is_running(instance)
    finally:
        instance.dispose()
    if not daemon:
        click.echo(
            "note: no Dagster daemon has reported for this instance in the last 2 minutes; the "
            "backfill waits until one runs (make ui starts dagster dev with its daemon)"
        )
    assets = ", ".join(f"{a} ({len(d)})" for a, d in the_plan.targets.items())
    click.echo(f"submitted backfill {backfill_id}: {assets}")
    click.echo("follow it in the UI: Overview > Backfills (make ui)")
    return 0


def _run_in_process(the_plan: RunPlan) -> int:
    from finance_pipeline.definitions import build_definitions
    from finance_pipeline.runs.execute import RunsInterrupted, execute, planned_runs
    from finance_pipeline.runs.interrupts import quiet_child_stderr

    defs = build_definitions()
    specs = [spec for _, batch in planned_runs(defs, the_plan) for spec in batch]
    instance = open_instance()
    interrupted = None
    try:
        with (
            quiet_child_stderr(),
            click.progressbar(
                length=len(specs), label=f"{len(specs)} run(s)", file=sys.stderr
            ) as bar,
        ):
            outcomes = execute(
                defs,
                instance,
                specs,
                on_done=lambda _: bar.update(1),
                tags={"finance_pipeline/cli": "backfill"},
            )
    except RunsInterrupted as stop:
        interrupted, outcomes = stop, stop.outcomes
    finally:
        instance.dispose()
    failed = [o for o in outcomes if not o.success]
    for outcome in outcomes:
        click.echo(
            f"{outcome.spec.label()}: {outcome.describe()} "
            f"(run {outcome.run_id}, {outcome.seconds:.1f} s)"
        )
    click.echo(f"{len(outcomes) - len(failed)} run(s) succeeded, {len(failed)} failed")
    if interrupted is not None:
        raise CliError(
            f"interrupted after {len(outcomes)} of {interrupted.planned} run(s): a run in "
            "progress was stopped and none started after it; stored sessions are whole (run "
            "the same backfill again to finish)",
            INTERRUPTED,
        )
    if failed:
        raise CliError(
            f"{len(failed)} of {len(outcomes)} run(s) failed: {failed[0].describe()}", FAILED
        )
    return 0
