"""A partition writer run as its own process by the crash tests (it gets SIGKILLed).

    python -m finance_pipeline_tests.reliability.writer LAKE SESSION --rows N --versions 1,2,3
        [--loop] [--fresh N] [--dagster HOME]

Prints `ready` once imported and waits for a line on stdin, then writes the partition
(dataset `minute_bars`) once per version, in order, printing `begin V SESSION` before and
`done V SESSION` after each write; `--loop` cycles through the versions until killed;
`--fresh N` instead writes the first version to N successive sessions (every write a first one).
Plain mode writes through `Lake.write`; `--dagster HOME` materializes an asset through the
project's ParquetIOManager on the Dagster instance in HOME, one run per write. Version V's table
is `table(session, rows, V)`: deterministic, so the parent knows every complete version's bytes
in advance.
"""

import argparse
import datetime as dt
import itertools
import sys
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.calendar import NEW_YORK, parse_session, sessions_between

DATASET = "minute_bars"
TICKERS = 1000


def table(session: dt.date, rows: int, version: int) -> pa.Table:
    """`rows` minute bars of `session`; prices and volumes drawn from seed `version`."""
    rng = np.random.default_rng(version)
    index = np.arange(rows)
    open_ = pd.Timestamp(dt.datetime.combine(session, dt.time(4, 0), NEW_YORK)).tz_convert("UTC")
    price = rng.uniform(5, 500, rows)
    frame = pd.DataFrame(
        {
            "ticker": np.array([f"T{i:04d}" for i in range(TICKERS)])[index % TICKERS],
            "session": session,
            "window_start": open_ + pd.to_timedelta(index // TICKERS, unit="min"),
            "open": price,
            "high": price * 1.01,
            "low": price * 0.99,
            "close": price * rng.uniform(0.99, 1.01, rows),
            "volume": rng.integers(100, 1_000_000, rows).astype("float64"),
            "vwap": price,
            "transactions": rng.integers(1, 5000, rows),
            "source": "flat_file_minute_aggs",
        }
    )
    return schemas.to_table(frame, schemas.CURATED_BARS, DATASET)


def _lake_writer(lake_root: str):
    from finance_pipeline.lake import Lake

    lake = Lake(lake_root)
    return lambda session, data, version: lake.write(DATASET, session, data)


def dagster_asset(tables: dict[int, pa.Table]):
    """A partitioned asset named `minute_bars` returning `tables[config.version]`."""
    import dagster as dg

    from finance_pipeline.partitions import TRADING_SESSIONS

    # (No `from __future__ import annotations` in this module: Dagster resolves this local
    # class from the asset function's annotation.)
    class Version(dg.Config):
        version: int

    @dg.asset(name=DATASET, partitions_def=TRADING_SESSIONS, io_manager_key="parquet_io_manager")
    def big_partition(config: Version) -> pa.Table:
        return tables[config.version]

    return big_partition


def materialize_version(
    asset: Any, instance: Any, lake_root: str, session: dt.date, version: int
) -> Any:
    """One run writing `version` of the partition through the project's ParquetIOManager."""
    import dagster as dg

    from finance_pipeline.resources import lake_resources

    return dg.materialize(
        [asset],
        resources=lake_resources(lake_root),
        instance=instance,
        partition_key=session.isoformat(),
        run_config={"ops": {DATASET: {"config": {"version": version}}}},
        raise_on_error=False,
    )


def _dagster_writer(lake_root: str, home: str):
    import dagster as dg

    tables: dict[int, pa.Table] = {}
    asset = dagster_asset(tables)
    instance = dg.DagsterInstance.from_config(home)

    def write(session: dt.date, data: pa.Table, version: int) -> None:
        tables[version] = data
        result = materialize_version(asset, instance, lake_root, session, version)
        if not result.success:
            raise SystemExit(f"run {result.run_id} failed")

    return write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="writer")
    parser.add_argument("lake")
    parser.add_argument("session")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--versions", required=True)
    parser.add_argument("--loop", action="store_true")
    parser.add_argument("--dagster", metavar="HOME")
    parser.add_argument(
        "--fresh",
        type=int,
        metavar="N",
        help="write the first version to N successive sessions from SESSION (first writes only)",
    )
    args = parser.parse_args(argv)
    session = parse_session(args.session)
    versions = [int(v) for v in args.versions.split(",")]
    write = _dagster_writer(args.lake, args.dagster) if args.dagster else _lake_writer(args.lake)
    if args.fresh:
        days = sessions_between(session, session + dt.timedelta(days=3 * args.fresh))[: args.fresh]
        work = [(day, versions[0]) for day in days]
    else:
        work = [(session, v) for v in versions]
    data: dict[tuple[dt.date, int], pa.Table] = {}
    # Built before "ready" (a loop's versions) or on first use (fresh sessions, many of them).
    for day, version in work if not args.fresh else work[:1]:
        data[(day, version)] = table(day, args.rows, version)
    print("ready", flush=True)
    if not sys.stdin.readline():
        return 1
    for day, version in itertools.cycle(work) if args.loop else work:
        if (day, version) not in data:
            data[(day, version)] = table(day, args.rows, version)
        print(f"begin {version} {day}", flush=True)
        write(day, data[(day, version)], version)
        print(f"done {version} {day}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
