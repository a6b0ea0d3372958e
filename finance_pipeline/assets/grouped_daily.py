"""grouped_daily_bars: the whole market's unadjusted daily bars for a session in one call."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finance_pipeline import schemas
from finance_pipeline.assets.common import (
    RunMetrics,
    new_york_dates,
    new_york_midnight,
    old_path_calls,
    record_figures,
    source_asset,
)
from finance_pipeline.calendar import session_from_partition_key
from finance_pipeline.registry import GROUPED_DAILY_BARS
from finance_pipeline.resources.polygon import PolygonResource

# One call per session: a backfill run fetches a few sessions at once, so a run's start-up
# (process, plan, executor hand-off) is paid once per few calls; a failed session fails its
# run's few, which a retry fetches again.
SESSIONS_PER_RUN = 5


class GroupedDailyConfig(dg.Config):
    include_otc: bool = False


def normalize_grouped_daily(raw: pd.DataFrame, session: dt.date) -> pd.DataFrame:
    """Polygon's grouped rows in the lake's bar shape.

    Grouped daily stamps `t` at 16:00 New York; the lake keys bars by session and by the day
    bar's window start (00:00 New York), like flat files and per-ticker aggregates.
    """
    if raw.empty:
        raise dg.Failure(
            description=(
                f"grouped daily for {session} returned no bars: an empty whole-market result "
                "on a trading session is not valid data (data not published yet, or a vendor "
                "outage); nothing was stored"
            ),
            metadata={"session": session.isoformat()},
        )
    days = new_york_dates(raw["timestamp"], unit="ms")
    wrong = sorted({d for d in days if d != session})
    if wrong:
        raise dg.Failure(
            description=(
                f"grouped daily for {session} has {int((days != session).sum())} bar(s) stamped "
                f"on other New York dates ({', '.join(map(str, wrong[:5]))}); nothing was stored"
            ),
            metadata={"session": session.isoformat()},
        )
    frame = raw.copy()
    frame["session"] = session
    frame["window_start"] = new_york_midnight(session)
    frame["otc"] = frame["otc"].fillna(False).astype(bool) if "otc" in frame else False
    return frame


@source_asset(
    name=GROUPED_DAILY_BARS,
    kinds={"polygon"},
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=SESSIONS_PER_RUN),
    description=(
        "Unadjusted daily bars of the whole US stock market for the session in ONE call "
        "(Polygon grouped daily, adjusted=false; OTC only when include_otc). Stored by session "
        "with window_start 00:00 New York. An empty whole-market result fails the run instead "
        f"of being stored. Backfills run up to {SESSIONS_PER_RUN} sessions per run."
    ),
)
def grouped_daily_bars(
    context: dg.AssetExecutionContext, config: GroupedDailyConfig, polygon: PolygonResource
) -> pa.Table:
    """The run's sessions one call each, in one table (the IO manager writes one partition
    file per session); each session's materialization carries its own figures."""
    metrics = RunMetrics()
    sessions = [session_from_partition_key(key) for key in context.partition_keys]
    # A run's calls go out together, each through the shared limiter: when a window opens,
    # every slot it frees is used at once instead of one session's round trip at a time.
    with ThreadPoolExecutor(len(sessions)) as pool:
        fetched = list(pool.map(lambda day: _fetch(polygon, day, config.include_otc), sessions))
    tables: list[pa.Table] = []
    figures: dict[str, dict[str, Any]] = {}
    for key, (table, usage) in zip(context.partition_keys, fetched, strict=True):
        metrics.add_usage(usage)
        tables.append(table)
        figures[key] = _session_figures(table, usage)
    table = pa.concat_tables(tables)
    run_totals = metrics.metadata(
        rows=table.num_rows,
        tickers=pc.count_distinct(table["ticker"]).as_py(),
        old_path_calls=sum(old_path_calls(f["tickers"], 1) for f in figures.values()),
        otc_rows=pc.sum(table["otc"]).as_py() or 0,
    )
    record_figures(context, figures, run_totals)
    return table


def _fetch(
    polygon: PolygonResource, session: dt.date, include_otc: bool
) -> tuple[pa.Table, dict[str, float]]:
    """One session's bars in the lake's shape, and what its own client spent on them."""
    client = polygon.get_client()
    raw = client.grouped_daily(session, include_otc=include_otc)
    frame = normalize_grouped_daily(raw, session)
    table = schemas.to_table(frame, schemas.GROUPED_DAILY_BARS, GROUPED_DAILY_BARS)
    return table, client.metrics()


def _session_figures(table: pa.Table, usage: dict[str, float]) -> dict[str, Any]:
    """One session's own numbers: rows, tickers, its call(s) and what they cost."""
    used = dict(usage)
    tickers = pc.count_distinct(table["ticker"]).as_py()
    calls = int(used.pop("api_calls", 0))
    downloaded = int(used.pop("bytes", 0))
    return {
        **used,
        "dagster/row_count": table.num_rows,
        "tickers": tickers,
        "otc_rows": pc.sum(table["otc"]).as_py() or 0,
        "api_calls": calls,
        "s3_gets": 0,
        "bytes": downloaded,
        "bytes_downloaded": downloaded,
        "calls_saved": old_path_calls(tickers, 1) - calls,
    }
