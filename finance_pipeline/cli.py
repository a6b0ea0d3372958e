"""`finance-pipeline`: plan, backfill, query, status, sandbox and demo from a shell.

Every error the user can cause (a date that is not a session, END before START, a future date,
an unknown dataset, malformed SQL, a bad lake path, a missing DAGSTER_HOME) is printed as ONE
line on stderr with a non-zero exit code: 2 for bad input, 1 for work that failed. Never a
traceback (FINANCE_PIPELINE_DEBUG=1 shows one for unexpected errors), never a secret.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from finance_pipeline import router
from finance_pipeline.calendar import SessionError, parse_session_range
from finance_pipeline.redaction import redact
from finance_pipeline.settings import env

PROG = "finance-pipeline"
DATASET_CHOICE = click.Choice(router.DATASETS)
CONFIRM_CALLS = 500  # planned API calls above which backfill asks first
BAD_INPUT, FAILED = 2, 1


class CliError(click.ClickException):
    """A one-line error for the user; `exit_code` 2 = bad input, 1 = failed work."""

    def __init__(self, message: str, exit_code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _one_line(text: str) -> str:
    return " ".join(redact(str(text)).split())


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"{PROG}: error: {_one_line(message)}", err=True)
    sys.exit(code)


class _Cli(click.Group):
    """Runs commands without click's standalone mode so every error becomes one line."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, **extra: Any
    ) -> NoReturn:
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args, prog_name or PROG, standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", FAILED)
        except click.UsageError as exc:
            hint = f" (see {PROG} {exc.ctx.info_name} --help)" if exc.ctx else ""
            if exc.ctx and exc.ctx.parent is None:
                hint = f" (see {PROG} --help)"
            _fail(exc.format_message() + hint, BAD_INPUT)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:  # the last resort: still one line, no secret
            if os.environ.get("FINANCE_PIPELINE_DEBUG"):
                raise
            _fail(
                f"unexpected {type(exc).__name__}: {exc} (set FINANCE_PIPELINE_DEBUG=1 for the "
                "traceback)",
                FAILED,
            )
        sys.exit(result if isinstance(result, int) else 0)


def _domain_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the pipeline's own exceptions (whose messages are meant for people) into CliError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from finance_pipeline.demo import DemoError
        from finance_pipeline.lake import LakeError, PartitionMissing
        from finance_pipeline.schemas import SchemaError

        try:
            return fn(*args, **kwargs)
        except (SessionError, router.InvalidRequest, SchemaError, DemoError) as exc:
            raise CliError(str(exc)) from None
        except (LakeError, PartitionMissing) as exc:
            raise CliError(str(exc), FAILED) from None

    return wrapper


# ----------------------------------------------------------------------------- shared pieces


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _tickers(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    tickers = tuple(dict.fromkeys(t.strip() for t in raw.split(",") if t.strip()))
    if not tickers:
        raise CliError("--tickers is empty: give comma-separated symbols, e.g. AAPL,BRK.A")
    return tickers


def _lake():
    """The lake of FINANCE_PIPELINE_LAKE, refusing a local root that is a file."""
    from finance_pipeline.lake import lake_from_env
    from finance_pipeline.settings import LakeLocation

    location = LakeLocation.from_env()
    if not location.is_s3:
        root = Path(location.root)
        if root.exists() and not root.is_dir():
            raise CliError(f"FINANCE_PIPELINE_LAKE={root} is a file, not a directory")
        if not root.exists() and root.parent.exists() and not root.parent.is_dir():
            raise CliError(f"FINANCE_PIPELINE_LAKE={root}: {root.parent} is not a directory")
    try:
        return lake_from_env()
    except ValueError as exc:
        raise CliError(f"FINANCE_PIPELINE_LAKE: {exc}") from None


# Raw or curated lake datasets whose stored sessions count as "stored" for a request.
STORED_AS = {
    "daily_bars": ("daily_bars",),
    "minute_bars": ("minute_bars",),
    "universe": ("universe_snapshot",),
    "corporate_actions": ("splits", "dividends"),
}


def stored_sessions(lake: Any, dataset: str) -> frozenset[dt.date]:
    sets = [set(lake.stored_sessions(name)) for name in STORED_AS[dataset]]
    return frozenset(set.intersection(*sets))


def _plan(
    start: str, end: str, dataset: str, tickers: tuple[str, ...] | None, force: bool
) -> router.Plan:
    for name, value in (("START", start), ("END", end)):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise CliError(f"{name} {value!r} is not a date in YYYY-MM-DD form") from None
    now = _now()
    sessions = parse_session_range(start, end, now=now)
    credentials = router.Credentials.from_env()
    stored = stored_sessions(_lake(), dataset)
    request = router.Request(dataset, sessions, tickers, now, stored=stored, force=force)
    return router.plan(request, credentials)


def _instance():
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if not home:
        raise CliError(
            "DAGSTER_HOME is not set: point it at the Dagster instance directory "
            "(the demo's is .demo/dagster_home)"
        )
    if not Path(home).is_dir():
        raise CliError(f"DAGSTER_HOME={home} is not a directory")
    import dagster as dg

    return dg.DagsterInstance.get()


def _defs():
    from finance_pipeline.demo import current_defs

    return current_defs()


# ----------------------------------------------------------------------------- commands


@click.group(name=PROG, cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """finance_pipeline: a verified Parquet/DuckDB lake of US stock data from Polygon."""


@cli.command()
@click.argument("start")
@click.argument("end")
@click.option("--dataset", type=DATASET_CHOICE, default="daily_bars", show_default=True)
@click.option("--tickers", help="Comma-separated symbols; default: the whole market.")
@click.option("--force", is_flag=True, help="Plan stored sessions too.")
@click.option("--json", "as_json", is_flag=True, help="The plan as JSON.")
@_domain_errors
def plan(
    start: str, end: str, dataset: str, tickers: str | None, force: bool, as_json: bool
) -> None:
    """Quote a download: per session the source the router picks, API calls, S3 GETs, and the
    cost of the old per-ticker path. START and END are dates (YYYY-MM-DD), both included."""
    the_plan = _plan(start, end, dataset, _tickers(tickers), force)
    if as_json:
        click.echo(json.dumps(the_plan.to_dict(), indent=2))
    else:
        click.echo(router.format_plan(the_plan))


# Per dataset and planned source: the raw assets that fetch it.
SOURCE_ASSETS: dict[str, dict[str, tuple[str, ...]]] = {
    "daily_bars": {"flat_file": ("flat_file_day_aggs",), "grouped_daily": ("grouped_daily_bars",)},
    "minute_bars": {"flat_file": ("flat_file_minute_aggs",), "rest": ("rest_fills",)},
    "universe": {"reference": ("universe_snapshot",)},
    "corporate_actions": {"reference": ("splits", "dividends")},
}
CURATED_OF = {"daily_bars": "daily_bars", "minute_bars": "minute_bars"}


def backfill_targets(
    the_plan: router.Plan, stored: Callable[[str], set[dt.date]] | None = None
) -> dict[str, list[dt.date]]:
    """Asset -> sessions for a plan: the raw asset of each session's source, then the curated
    asset for every session that has a source. Raw partitions in `stored(asset)` are not
    fetched again (unless the plan is forced); the curated asset still runs on them."""
    dataset = the_plan.request.dataset
    targets: dict[str, list[dt.date]] = {}
    served = []
    for session in the_plan.sessions:
        assets = SOURCE_ASSETS[dataset].get(session.source, ())
        for asset in assets:
            targets.setdefault(asset, []).append(session.session)
        if assets:
            served.append(session.session)
    if stored is not None and not the_plan.request.force:
        for asset, days in targets.items():
            have = stored(asset)
            targets[asset] = [d for d in days if d not in have]
    if dataset in CURATED_OF and served:
        targets[CURATED_OF[dataset]] = served
    return {asset: days for asset, days in targets.items() if days}


def _check_partitions_exist(targets: dict[str, list[dt.date]]) -> None:
    from finance_pipeline.demo import newest_partition

    last = newest_partition(_now())
    late = sorted({d for days in targets.values() for d in days if d > last})
    if late:
        raise CliError(
            f"session {late[0]} has closed but its partition opens at 00:00 New York the next "
            f"day; the newest partition is {last}. Use END {last} or wait."
        )


def _submit_backfill(targets: dict[str, list[dt.date]], dataset: str) -> str:
    """A PartitionBackfill on the instance, as the UI's "Materialize" does: the daemon of
    `dagster dev` (make ui) or `dagster-daemon` launches its runs per the backfill policies."""
    import time

    import dagster as dg
    from dagster._core.definitions.selector import (
        PartitionRangeSelector,
        PartitionsByAssetSelector,
        PartitionsSelector,
    )
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    from finance_pipeline.demo import contiguous

    instance = _instance()
    asset_graph = _defs().resolve_asset_graph()
    selectors = []
    for asset, days in targets.items():
        ranges = [
            PartitionRangeSelector(start=block[0].isoformat(), end=block[-1].isoformat())
            for block in contiguous(days)
        ]
        selectors.append(
            PartitionsByAssetSelector(
                asset_key=dg.AssetKey(asset), partitions=PartitionsSelector(ranges=ranges)
            )
        )
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_partitions_by_assets(
        backfill_id=backfill_id,
        asset_graph=asset_graph,
        backfill_timestamp=time.time(),
        tags={"finance_pipeline/cli": "backfill", "finance_pipeline/dataset": dataset},
        dynamic_partitions_store=instance,
        partitions_by_assets=selectors,
        title=f"finance-pipeline backfill {dataset}",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    heartbeats = instance.get_daemon_heartbeats()
    fresh = [h for h in heartbeats.values() if time.time() - h.timestamp < 120]
    instance.dispose()
    if not fresh:
        click.echo(
            "note: no Dagster daemon has reported for this instance in the last 2 minutes; the "
            "backfill waits until one runs (make ui starts dagster dev with its daemon)"
        )
    return backfill_id


def _run_in_process(targets: dict[str, list[dt.date]]) -> int:
    from finance_pipeline.demo import execute, run_specs

    defs = _defs()
    raw = {a: d for a, d in targets.items() if a not in CURATED_OF.values()}
    curated = {a: d for a, d in targets.items() if a in CURATED_OF.values()}
    specs = run_specs(defs, raw) + run_specs(defs, curated)
    instance = _instance()
    outcomes = []
    try:
        with click.progressbar(
            length=len(specs), label=f"{len(specs)} run(s)", file=sys.stderr
        ) as bar:
            for spec in specs:
                outcomes += execute(
                    defs, instance, [spec], tags={"finance_pipeline/cli": "backfill"}
                )
                bar.update(1)
    finally:
        instance.dispose()
    failed = [o for o in outcomes if not o.success]
    for outcome in outcomes:
        state = outcome.describe()
        click.echo(
            f"{outcome.spec.label()}: {state} (run {outcome.run_id}, {outcome.seconds:.1f} s)"
        )
    click.echo(f"{len(outcomes) - len(failed)} run(s) succeeded, {len(failed)} failed")
    if failed:
        raise CliError(
            f"{len(failed)} of {len(outcomes)} run(s) failed: {failed[0].describe()}", FAILED
        )
    return 0


@cli.command()
@click.argument("start")
@click.argument("end")
@click.option("--dataset", type=DATASET_CHOICE, default="daily_bars", show_default=True)
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
@_domain_errors
def backfill(
    start: str,
    end: str,
    dataset: str,
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
    tickers = None
    if dataset == "minute_bars":
        from finance_pipeline.assets.rest_fills import watchlist

        tickers = tuple(watchlist(None)) or None
    the_plan = _plan(start, end, dataset, tickers, force)
    click.echo(router.format_plan(the_plan))
    lake = _lake()
    targets = backfill_targets(the_plan, lambda asset: set(lake.stored_sessions(asset)))
    if not targets:
        unavailable = the_plan.sessions_for("unavailable")
        why = "all stored (use --force)" if not unavailable else "none available yet"
        click.echo(f"nothing to do: {why}")
        return 0
    if max_calls is not None and the_plan.api_calls > max_calls:
        raise CliError(
            f"the plan needs {the_plan.api_calls:,} API calls, above --max-calls {max_calls:,}; "
            "narrow the range or raise the limit"
        )
    if the_plan.api_calls > confirm_above and not yes:
        click.confirm(f"Spend {the_plan.api_calls:,} API calls?", abort=True, err=True)
    _check_partitions_exist(targets)
    if the_plan.api_calls and not env("POLYGON_API_KEY"):
        raise CliError(
            f"POLYGON_API_KEY is not set: the plan needs {the_plan.api_calls:,} API calls "
            "(set it, or run `finance-pipeline sandbox` and export what it prints)"
        )
    if in_process:
        return _run_in_process(targets)
    backfill_id = _submit_backfill(targets, dataset)
    assets = ", ".join(f"{a} ({len(d)})" for a, d in targets.items())
    click.echo(f"submitted backfill {backfill_id}: {assets}")
    click.echo("follow it in the UI: Overview > Backfills (make ui)")
    return 0


@cli.command()
@click.argument("sql")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV to stdout.")
@click.option(
    "--parquet",
    "parquet_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the result to this Parquet file.",
)
@_domain_errors
def query(sql: str, as_csv: bool, parquet_path: Path | None) -> None:
    """Run SQL on the lake's DuckDB views (daily_bars, minute_bars, universe, splits,
    dividends, daily_bars_adjusted, coverage) and print the result."""
    if as_csv and parquet_path is not None:
        raise CliError("choose one of --csv and --parquet")
    from finance_pipeline.warehouse import Warehouse, WarehouseError

    lake = _lake()
    try:
        with Warehouse(lake) as warehouse:
            table = warehouse.query(sql)
    except WarehouseError as exc:
        raise CliError(str(exc)) from None
    if parquet_path is not None:
        import pyarrow.parquet as pq

        pq.write_table(table, parquet_path)
        click.echo(f"wrote {table.num_rows:,} row(s) to {parquet_path}")
    elif as_csv:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sys.stdout.buffer)
    else:
        from tabulate import tabulate

        frame = table.to_pandas()
        click.echo(tabulate(frame, headers="keys", showindex=False, tablefmt="simple"))
        click.echo(f"({table.num_rows:,} row(s))")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="The status as JSON.")
@_domain_errors
def status(as_json: bool) -> None:
    """Coverage per dataset (sessions present and missing, sources used), API calls used and
    saved, S3 GETs and check results, from the lake and the Dagster instance (DAGSTER_HOME)."""
    from finance_pipeline.status import format_status, status_of

    lake = _lake()
    instance = _instance()
    try:
        summary = status_of(lake, instance, _defs().resolve_asset_graph())
    finally:
        instance.dispose()
    click.echo(json.dumps(summary.to_dict(), indent=2) if as_json else format_status(summary))


@cli.command()
@click.option("--tickers", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--start", help="First date of the market (YYYY-MM-DD); default ~2 months back.")
@click.option("--end", help="Last date of the market (YYYY-MM-DD); default today.")
@click.option("--plan", "plan_name", type=click.Choice(["paid", "free"]), default="paid")
@click.option(
    "--rate-limit",
    type=click.IntRange(min=0),
    help="Requests per minute before 429s (default: none on paid, 5 on free).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".sandbox_cache"),
    show_default=True,
    help="Where generated minute bars are cached.",
)
@_domain_errors
def sandbox(
    tickers: int,
    seed: int,
    start: str | None,
    end: str | None,
    plan_name: str,
    rate_limit: int | None,
    cache_dir: Path,
) -> None:
    """Serve the sandbox market (Polygon REST + S3 flat files on 127.0.0.1) until Ctrl-C,
    printing `export` lines that point the pipeline at it."""
    from finance_pipeline.sandbox.serve import serve

    def day(value: str | None, name: str) -> dt.date | None:
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise CliError(f"--{name} {value!r} is not a date in YYYY-MM-DD form") from None

    first, last = day(start, "start"), day(end, "end")
    if first and last and last < first:
        raise CliError(f"--end {last} is before --start {first}")
    try:
        serve(
            tickers=tickers,
            seed=seed,
            start=first,
            end=last,
            plan=plan_name,
            rate_limit_per_minute=rate_limit,
            cache_dir=cache_dir,
        )
    except ValueError as exc:  # the sandbox names the bad knob
        raise CliError(str(exc)) from None


@cli.command()
@click.option("--real", is_flag=True, help="Use POLYGON_API_KEY (spends your quota).")
@click.option("--tickers", type=click.IntRange(min=10), default=300, show_default=True)
@click.option("--sessions", type=click.IntRange(min=2), default=21, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--force", is_flag=True, help="Fetch partitions already stored again.")
@_domain_errors
def demo(real: bool, tickers: int, sessions: int, seed: int, force: bool) -> int:
    """Run the whole pipeline through a real Dagster instance (.demo/dagster_home) into a lake
    (.demo/lake) against the sandbox market, then print what it did and cost."""
    from finance_pipeline.demo import run_demo

    return run_demo(
        real=real, tickers=tickers, sessions=sessions, seed=seed, force=force, say=click.echo
    )


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
@click.option("--tickers", type=click.IntRange(min=10), default=300, show_default=True)
@click.option("--sessions", type=click.IntRange(min=2), default=21, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@_domain_errors
def ui(port: int, tickers: int, sessions: int, seed: int) -> int:
    """The Dagster UI (`dagster dev`) on the demo's instance and lake, with the demo's sandbox
    market behind it unless POLYGON_API_KEY is set: materialize and backfill from the browser."""
    from finance_pipeline.demo import run_ui

    return run_ui(tickers=tickers, sessions=sessions, seed=seed, port=port, say=click.echo)


def main() -> None:
    """The console script."""
    import warnings

    # Dagster flags the beta/preview features this code location opts into on every import.
    warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview)")
    cli.main(prog_name=PROG)


if __name__ == "__main__":
    main()
