"""The one reconciliation that spends API calls: grouped daily against the old per-ticker REST
path, on a deterministic sample of tickers per session (`rules.comparison.sample_tickers`).

It needs the "polygon" resource and runs in the same concurrency pool as the REST assets.
"""

import datetime as dt

import dagster as dg
import pandas as pd
from pydantic import Field

from finance_pipeline.assets.common import POLYGON_POOL
from finance_pipeline.calendar import NEW_YORK
from finance_pipeline.checks.context import (
    LAKE_RESOURCE_KEY,
    SessionResults,
    check_sessions,
    lake_of,
    read_optional,
    session_results,
)
from finance_pipeline.checks.rules.comparison import compare_bars, sample_tickers, skipped
from finance_pipeline.checks.rules.frames import without_otc
from finance_pipeline.checks.rules.verdicts import Verdict
from finance_pipeline.clients.polygon_rest import (
    PolygonBadRequestError,
    PolygonClient,
    PolygonError,
)
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.registry import GROUPED_DAILY_BARS
from finance_pipeline.resources.polygon import PolygonResource

OLD_PATH = "rest_aggs (old path)"
POLYGON_RESOURCE_KEY = "polygon"


class RestSampleConfig(dg.Config):
    sample_size: int = Field(
        default=5,
        description=(
            "Tickers per session re-fetched one by one from the per-ticker REST aggregates "
            "(the old path); each costs one API call. 0 disables the check (free plan)."
        ),
    )


def rest_day_bars(client: PolygonClient, tickers: list[str], session: dt.date) -> pd.DataFrame:
    """The old path: one unadjusted per-ticker day-aggregates call per ticker. Tickers Polygon
    does not know for that day come back with no rows."""
    frames = []
    for ticker in tickers:
        try:
            raw = client.aggs(ticker, 1, "day", session, session)
        except PolygonBadRequestError:
            continue
        if raw.empty:
            continue
        frame = raw.copy()
        frame["ticker"] = ticker
        starts = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms", utc=True)
        frame["session"] = starts.dt.tz_convert(NEW_YORK).dt.date
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["ticker", "session", "open", "high", "low", "close", "volume"])
    return pd.concat(frames, ignore_index=True)


def grouped_vs_rest_sample(
    grouped: pd.DataFrame, client: PolygonClient, session: dt.date, sample_size: int
) -> Verdict:
    """A deterministic sample of grouped-daily tickers against their per-ticker REST day bars."""
    grouped, _ = without_otc(grouped)
    tickers = sample_tickers(grouped["ticker"], session, sample_size)
    before = client.total_calls
    try:
        rest = rest_day_bars(client, tickers, session)
    except PolygonError as exc:
        return Verdict.warn(
            f"could not fetch the old path for {session}, nothing verified: {exc}",
            api_calls=client.total_calls - before,
            sample=", ".join(tickers),
        )
    calls = client.total_calls - before
    sampled = grouped[grouped["ticker"].isin(tickers)]
    comparison = compare_bars(sampled, rest, left_name=GROUPED_DAILY_BARS, right_name=OLD_PATH)
    verdict = comparison.verdict()
    verdict.metadata.update({"api_calls": calls, "sample": ", ".join(tickers)})
    return verdict


@dg.asset_check(  # type: ignore[arg-type]  # a generator: see reconciliation.lake_check
    asset=GROUPED_DAILY_BARS,
    name="matches_rest_sample",
    description=(
        "Grouped daily agrees with the old per-ticker REST path on a deterministic sample of "
        "tickers per session (config sample_size, default 5; 0 disables). Costs sample_size "
        "API calls per session (api_calls metadata). Prices within 1e-4 relative (ERROR), "
        "volume drift WARN."
    ),
    blocking=True,
    partitions_def=TRADING_SESSIONS,
    pool=POLYGON_POOL,
    required_resource_keys={LAKE_RESOURCE_KEY, POLYGON_RESOURCE_KEY},
)
def grouped_daily_matches_rest_sample(
    context: dg.AssetCheckExecutionContext, config: RestSampleConfig
) -> SessionResults:
    lake = lake_of(context)
    sessions = check_sessions(context)
    verdicts = {}
    if config.sample_size <= 0:
        for session in sessions:
            verdicts[session] = skipped("disabled (sample_size=0): no API calls spent")
            verdicts[session].metadata["api_calls"] = 0
    else:
        polygon: PolygonResource = getattr(context.resources, POLYGON_RESOURCE_KEY)
        client = polygon.get_client()
        for session in sessions:
            table = read_optional(lake, GROUPED_DAILY_BARS, session)
            if table is None:
                verdicts[session] = skipped(f"{GROUPED_DAILY_BARS} {session} is not stored")
                verdicts[session].metadata["api_calls"] = 0
                continue
            verdicts[session] = grouped_vs_rest_sample(
                table.to_pandas(), client, session, config.sample_size
            )
    key = dg.AssetKey(GROUPED_DAILY_BARS)
    yield from session_results(context, key, {"matches_rest_sample": verdicts})
