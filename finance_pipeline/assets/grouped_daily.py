"""grouped_daily_bars: the whole market's unadjusted daily bars for a session in one call."""

import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.assets.common import (
    RunMetrics,
    new_york_dates,
    new_york_midnight,
    old_path_calls,
    run_session,
    source_asset,
)
from finance_pipeline.registry import GROUPED_DAILY_BARS
from finance_pipeline.resources.polygon import PolygonResource


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
    description=(
        "Unadjusted daily bars of the whole US stock market for the session in ONE call "
        "(Polygon grouped daily, adjusted=false; OTC only when include_otc). Stored by session "
        "with window_start 00:00 New York. An empty whole-market result fails the run instead "
        "of being stored."
    ),
)
def grouped_daily_bars(
    context: dg.AssetExecutionContext, config: GroupedDailyConfig, polygon: PolygonResource
) -> pa.Table:
    session = run_session(context)
    metrics = RunMetrics()
    with metrics.polygon(polygon) as client:
        raw = client.grouped_daily(session, include_otc=config.include_otc)
    frame = normalize_grouped_daily(raw, session)
    table = schemas.to_table(frame, schemas.GROUPED_DAILY_BARS, GROUPED_DAILY_BARS)
    tickers = int(frame["ticker"].nunique())
    context.add_output_metadata(
        metrics.metadata(
            rows=table.num_rows,
            tickers=tickers,
            old_path_calls=old_path_calls(tickers, 1),
            otc_rows=int(frame["otc"].sum()),
        )
    )
    return table
