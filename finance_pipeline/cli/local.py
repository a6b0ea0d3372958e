"""`sandbox`, `demo` and `ui`: the local market and the commands that run the pipeline on it.
The only commands that start the sandbox (product code never imports it)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from finance_pipeline.cli.app import CliError, cli, domain_errors


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
@click.option("--symbology", is_flag=True, help="Add renames, a reused ticker, missing FIGIs.")
@domain_errors
def sandbox(
    tickers: int,
    seed: int,
    start: str | None,
    end: str | None,
    plan_name: str,
    rate_limit: int | None,
    cache_dir: Path,
    symbology: bool,
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
            symbology=symbology,
        )
    except ValueError as exc:  # the sandbox names the bad knob
        raise CliError(str(exc)) from None


@cli.command()
@click.option("--real", is_flag=True, help="Use POLYGON_API_KEY (spends your quota).")
@click.option("--tickers", type=click.IntRange(min=10), default=300, show_default=True)
@click.option("--sessions", type=click.IntRange(min=2), default=21, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--force", is_flag=True, help="Fetch partitions already stored again.")
@domain_errors
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
@domain_errors
def ui(port: int, tickers: int, sessions: int, seed: int) -> int:
    """The Dagster UI (`dagster dev`) on the demo's instance and lake, with the demo's sandbox
    market behind it unless POLYGON_API_KEY is set: materialize and backfill from the browser."""
    from finance_pipeline.ui import run_ui

    return run_ui(tickers=tickers, sessions=sessions, seed=seed, port=port, say=click.echo)
