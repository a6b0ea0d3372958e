"""`query` runs SQL on the lake's DuckDB views; `status` reports coverage, costs and checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from finance_pipeline.cli.app import CliError, cli, domain_errors, open_instance, open_lake


@cli.command()
@click.argument("sql")
@click.option("--csv", "as_csv", is_flag=True, help="Write CSV to stdout.")
@click.option(
    "--parquet",
    "parquet_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the result to this Parquet file.",
)
@domain_errors
def query(sql: str, as_csv: bool, parquet_path: Path | None) -> None:
    """Run one reading SQL statement (SELECT, WITH, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN) on the
    lake's DuckDB views (daily_bars, minute_bars, universe, splits, dividends,
    daily_bars_adjusted, coverage) and print the result. Statements that change anything,
    and files outside the lake, are refused."""
    if as_csv and parquet_path is not None:
        raise CliError("choose one of --csv and --parquet")
    from finance_pipeline.warehouse import Warehouse, WarehouseError

    lake = open_lake()
    try:
        with Warehouse(lake) as warehouse:
            table = warehouse.read(sql)
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
@domain_errors
def status(as_json: bool) -> None:
    """Coverage per dataset (sessions present and missing, sources used), API calls used and
    saved, S3 GETs and check results, from the lake and the Dagster instance (DAGSTER_HOME)."""
    from finance_pipeline.definitions import build_definitions
    from finance_pipeline.status import format_status, status_of

    lake = open_lake()
    instance = open_instance()
    try:
        summary = status_of(lake, instance, build_definitions().resolve_asset_graph())
    finally:
        instance.dispose()
    click.echo(json.dumps(summary.to_dict(), indent=2) if as_json else format_status(summary))
