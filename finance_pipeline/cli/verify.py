"""`verify` checks every stored file against its manifest entry and its directory, `--repair`
re-fetches exactly the bad ones through the planner; `accept` publishes a quarantined file."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

import click

from finance_pipeline import router
from finance_pipeline.calendar import parse_session, parse_session_range
from finance_pipeline.cli.app import FAILED, CliError, cli, domain_errors, now, open_lake
from finance_pipeline.lake import Lake
from finance_pipeline.lake.verify import BadFile
from finance_pipeline.registry import ALL_ASSETS, DATASETS, MINUTE_BARS, assets_of
from finance_pipeline.runs.planner import Demand, RunPlan, plan_runs
from finance_pipeline.runs.stored import lake_state
from finance_pipeline.settings import watchlist


def _sessions(start: str | None, end: str | None) -> list[dt.date] | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise CliError("give both START and END, or neither (every stored session)")
    return parse_session_range(start, end, now=now())


def _repair_plans(
    good: Mapping[str, set[dt.date]], bad: Mapping[str, list[BadFile]]
) -> list[RunPlan]:
    """Per request dataset with bad files, the planner's runs over exactly their sessions."""
    bad_days = {asset: {f.session for f in files} for asset, files in bad.items()}
    credentials = router.Credentials.from_env()
    plans = []
    for dataset in DATASETS:
        days = sorted({d for a in assets_of(dataset) for d in bad_days.get(a, ())})
        if not days:
            continue
        tickers = (watchlist() or None) if dataset == MINUTE_BARS else None
        demand = Demand(dataset, tickers)
        plans.append(plan_runs([demand], days, now(), credentials, stored=good, bad=bad_days))
    return plans


def _repair(lake: Lake, good: Mapping[str, set[dt.date]], bad: Mapping[str, list[BadFile]]) -> int:
    from finance_pipeline.cli.fetch import _need_key, _run_in_process

    plans = [plan for plan in _repair_plans(good, bad) if plan.targets]
    for plan in plans:
        _need_key(plan.api_calls)
    for plan in plans:
        targets = ", ".join(f"{a} ({len(d)})" for a, d in plan.targets.items())
        click.echo(f"re-fetching: {targets}")
        try:
            _run_in_process(plan)
        except CliError as exc:
            click.echo(f"repair run failed: {exc.format_message()}", err=True)
    left = [f for files in bad.values() for f in files if lake.check(f.dataset, f.session)]
    for file in left:
        click.echo(f"still bad: {lake.check(file.dataset, file.session).text()}")  # type: ignore[union-attr]
    repaired = sum(len(files) for files in bad.values()) - len(left)
    click.echo(f"repaired {repaired} file(s), {len(left)} still bad")
    if left:
        raise CliError(f"{len(left)} file(s) could not be repaired: {left[0].text()}", FAILED)
    return 0


@cli.command()
@click.argument("start", required=False)
@click.argument("end", required=False)
@click.option("--repair", is_flag=True, help="Re-fetch exactly the bad files (in this process).")
@domain_errors
def verify(start: str | None, end: str | None, repair: bool) -> int:
    """Check every stored file (of START..END, default all) against its manifest entry (sha256,
    rows, bytes) and its directory (Parquet footer, page checksums, session column); name each
    bad file and why. Exit 1 when any is bad (and not repaired)."""
    lake = open_lake()
    good, bad = lake_state(lake, ALL_ASSETS, _sessions(start, end))
    checked = sum(len(days) for days in good.values()) + sum(len(f) for f in bad.values())
    for files in bad.values():
        for file in files:
            click.echo(f"bad: {file.text()}")
    count = sum(len(files) for files in bad.values())
    click.echo(f"verified {checked} file(s): {checked - count} good, {count} bad")
    if not count:
        return 0
    if repair:
        return _repair(lake, good, bad)
    raise CliError(
        f"{count} stored file(s) fail verification; re-fetch them with `verify --repair` "
        "(or a plain backfill of their sessions)",
        FAILED,
    )


@cli.command()
@click.argument("dataset")
@click.argument("session")
@domain_errors
def accept(dataset: str, session: str) -> None:
    """Publish the quarantined file of DATASET (a lake dataset, e.g. flat_file_day_aggs) and
    SESSION in place of the stored one (see `status` for what is quarantined and why)."""
    from finance_pipeline.lake.publish import accept as publish

    if dataset not in ALL_ASSETS:
        raise CliError(f"unknown dataset {dataset!r}; expected one of {', '.join(ALL_ASSETS)}")
    day = parse_session(session)
    try:
        result = publish(open_lake(), dataset, day)
    except LookupError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"published {result.uri} ({result.rows:,} rows) from quarantine")
    if os.environ.get("DAGSTER_HOME", "").strip():
        _record(dataset, day, result.rows)
    click.echo(
        f"rebuild what depends on it: finance-pipeline backfill {day} {day} --force "
        "--dataset <its request dataset>"
    )


def _record(dataset: str, session: dt.date, rows: int) -> None:
    """A runless materialization, so the UI and the automation see the accepted partition."""
    import dagster as dg

    from finance_pipeline.cli.app import open_instance

    instance = open_instance()
    try:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=dataset,
                partition=session.isoformat(),
                metadata={"dagster/row_count": rows, "accepted_from_quarantine": 1},
            )
        )
    finally:
        instance.dispose()
