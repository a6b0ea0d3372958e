"""Reconciliation checks: the cheap paths must give the old path's numbers, session by session.

All comparisons are on the New York session, unadjusted, with exchange test symbols dropped on
both sides (see `reconcile` for tolerances). Each check records rows_compared, matched,
mismatched, only_left, only_right, max_rel_diff and offenders, and is partitioned by session.
A counterpart that is not stored yet is not a failure: the check passes with `skipped=1`.
"""

import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from finance_pipeline.calendar import NEW_YORK, TRADING_SESSIONS
from finance_pipeline.checks import reconcile
from finance_pipeline.checks.common import Verdict
from finance_pipeline.checks.support import (
    LAKE_RESOURCE_KEY,
    POLYGON_POOL,
    check_sessions,
    combine,
    lake_of,
    read_optional,
    to_result,
)
from finance_pipeline.lake import Lake
from finance_pipeline.resources.polygon import (
    PolygonBadRequestError,
    PolygonClient,
    PolygonError,
    PolygonResource,
)

OLD_PATH = "rest_aggs (old path)"
POLYGON_RESOURCE_KEY = "polygon"


def _skipped(description: str) -> Verdict:
    return Verdict.ok(
        description,
        rows_compared=0,
        matched=0,
        mismatched=0,
        only_left=0,
        only_right=0,
        max_rel_diff=0.0,
        offenders="",
        skipped=1,
    )


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


# ---------------------------------------------------------------- grouped daily vs the old path


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
    grouped, _ = reconcile.without_otc(grouped)
    tickers = reconcile.sample_tickers(grouped["ticker"], session, sample_size)
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
    comparison = reconcile.compare_bars(
        sampled, rest, left_name="grouped_daily_bars", right_name=OLD_PATH
    )
    verdict = comparison.verdict()
    verdict.metadata.update({"api_calls": calls, "sample": ", ".join(tickers)})
    return verdict


@dg.asset_check(
    asset="grouped_daily_bars",
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
) -> dg.AssetCheckResult:
    lake = lake_of(context)
    sessions = check_sessions(context)
    if config.sample_size <= 0:
        disabled = _skipped("disabled (sample_size=0): no API calls spent")
        disabled.metadata["api_calls"] = 0
        return to_result(disabled)
    polygon: PolygonResource = getattr(context.resources, POLYGON_RESOURCE_KEY)
    client = polygon.get_client()
    before = client.total_calls
    verdicts = {}
    for session in sessions:
        table = read_optional(lake, "grouped_daily_bars", session)
        if table is None:
            verdicts[session] = _skipped(f"grouped_daily_bars {session} is not stored")
            continue
        verdicts[session] = grouped_vs_rest_sample(
            _frame(table), client, session, config.sample_size
        )
    result = combine(verdicts)
    result.metadata["api_calls"] = client.total_calls - before
    return to_result(result)


# ------------------------------------------------------------ flat-file day aggs vs grouped daily


def flat_vs_grouped(lake: Lake, session: dt.date) -> Verdict:
    flat = read_optional(lake, "flat_file_day_aggs", session)
    grouped = read_optional(lake, "grouped_daily_bars", session)
    if flat is None or grouped is None:
        absent = "flat_file_day_aggs" if flat is None else "grouped_daily_bars"
        return _skipped(f"{absent} {session} is not stored: nothing to compare")
    grouped_frame, otc = reconcile.without_otc(_frame(grouped))
    comparison = reconcile.compare_bars(
        _frame(flat),
        grouped_frame,
        left_name="flat_file_day_aggs",
        right_name="grouped_daily_bars",
    )
    verdict = comparison.verdict()
    verdict.metadata.update({"api_calls": 0, "otc_excluded": otc})
    return verdict


@dg.asset_check(
    asset="flat_file_day_aggs",
    name="matches_grouped_daily",
    description=(
        "The whole cross-section of the day flat file against grouped daily for the same "
        "session: 0 API calls. Prices within 1e-4 relative (ERROR), volume drift WARN, tickers "
        "on one side only WARN (ERROR above 5%). Grouped daily's OTC rows (include_otc) are "
        "left out: flat files carry SIP data only."
    ),
    blocking=True,
    partitions_def=TRADING_SESSIONS,
    required_resource_keys={LAKE_RESOURCE_KEY},
)
def flat_file_day_aggs_matches_grouped_daily(
    context: dg.AssetCheckExecutionContext,
) -> dg.AssetCheckResult:
    lake = lake_of(context)
    return to_result(combine({s: flat_vs_grouped(lake, s) for s in check_sessions(context)}))


# -------------------------------------------------------------- minute flat files vs day flat files


def minutes_vs_days(lake: Lake, session: dt.date) -> Verdict:
    days = read_optional(lake, "flat_file_day_aggs", session)
    if days is None:
        return _skipped(f"flat_file_day_aggs {session} is not stored: nothing to compare")
    minutes = lake.read("flat_file_minute_aggs", session).select(
        ["ticker", "high", "low", "volume"]
    )
    comparison = reconcile.compare_minutes_to_days(_frame(minutes), _frame(days))
    verdict = comparison.verdict()
    verdict.metadata["api_calls"] = 0
    return verdict


@dg.asset_check(
    asset="flat_file_minute_aggs",
    name="consistent_with_day_aggs",
    description=(
        "Per ticker, the day flat file's high is the highest minute high and its low the "
        "lowest minute low (1e-4 relative, ERROR); summed minute volume does not exceed the "
        "day volume (WARN: minutes may be missing, never extra). 0 API calls."
    ),
    blocking=True,
    partitions_def=TRADING_SESSIONS,
    required_resource_keys={LAKE_RESOURCE_KEY},
)
def flat_file_minute_aggs_consistent_with_day_aggs(
    context: dg.AssetCheckExecutionContext,
) -> dg.AssetCheckResult:
    lake = lake_of(context)
    return to_result(combine({s: minutes_vs_days(lake, s) for s in check_sessions(context)}))


# ----------------------------------------------------------------- REST fills vs minute flat files


def rest_fills_vs_flat_minutes(lake: Lake, session: dt.date) -> Verdict:
    fills = lake.read("rest_fills", session)
    if fills.num_rows == 0:
        return _skipped(f"rest_fills {session} is empty (flat files covered it)")
    minutes = read_optional(lake, "flat_file_minute_aggs", session)
    if minutes is None:
        return _skipped(f"flat_file_minute_aggs {session} is not stored yet: nothing to compare")
    tickers = pc.unique(fills["ticker"])
    minutes = minutes.filter(pc.is_in(minutes["ticker"], value_set=tickers))
    comparison = reconcile.compare_bars(
        _frame(fills),
        _frame(minutes),
        on=("ticker", "window_start"),
        left_name="rest_fills",
        right_name="flat_file_minute_aggs",
    )
    verdict = comparison.verdict()
    verdict.metadata["api_calls"] = 0
    return verdict


@dg.asset_check(
    asset="rest_fills",
    name="matches_flat_file_minutes",
    description=(
        "Per-ticker REST minute bars against the minute flat file for the same tickers, joined "
        "on the minute's window start, where both are stored. Prices within 1e-4 relative "
        "(ERROR), volume drift WARN. 0 API calls."
    ),
    blocking=True,
    partitions_def=TRADING_SESSIONS,
    required_resource_keys={LAKE_RESOURCE_KEY},
)
def rest_fills_matches_flat_file_minutes(
    context: dg.AssetCheckExecutionContext,
) -> dg.AssetCheckResult:
    lake = lake_of(context)
    verdicts = {s: rest_fills_vs_flat_minutes(lake, s) for s in check_sessions(context)}
    return to_result(combine(verdicts))


# ------------------------------------------------------------------ universe vs traded tickers


class UniverseCoverageConfig(dg.Config):
    min_share: float = Field(
        default=0.9,
        description="Share of traded tickers the universe must list; below it: WARN.",
    )
    error_share: float = Field(
        default=0.5,
        description="Below this share the snapshot is broken: ERROR (blocking).",
    )


def universe_vs_traded(
    lake: Lake, session: dt.date, min_share: float, error_share: float
) -> Verdict:
    universe = read_optional(lake, "universe_snapshot", session)
    if universe is None:
        return _skipped(f"universe_snapshot {session} is not stored")
    grouped = read_optional(lake, "grouped_daily_bars", session)
    if grouped is not None:
        source = "grouped_daily_bars"
        traded = reconcile.without_otc(_frame(grouped.select(["ticker", "otc"])))[0]["ticker"]
    else:
        days = read_optional(lake, "flat_file_day_aggs", session)
        if days is None:
            return _skipped(f"no bars stored for {session} to say which tickers traded")
        source = "flat_file_day_aggs"
        traded = _frame(days.select(["ticker"]))["ticker"]
    coverage = reconcile.universe_coverage(_frame(universe.select(["ticker"]))["ticker"], traded)
    verdict = coverage.verdict(min_share, error_share)
    verdict.metadata.update({"traded_source": source, "api_calls": 0})
    return verdict


@dg.asset_check(
    asset="universe_snapshot",
    name="covers_traded_tickers",
    description=(
        "Share of the session's traded tickers (grouped daily without OTC; test symbols "
        "excluded) that the point-in-time universe lists: WARN below min_share (0.9), ERROR "
        "below error_share (0.5). 0 API calls."
    ),
    blocking=True,
    partitions_def=TRADING_SESSIONS,
    required_resource_keys={LAKE_RESOURCE_KEY},
)
def universe_snapshot_covers_traded_tickers(
    context: dg.AssetCheckExecutionContext, config: UniverseCoverageConfig
) -> dg.AssetCheckResult:
    lake = lake_of(context)
    verdicts = {
        s: universe_vs_traded(lake, s, config.min_share, config.error_share)
        for s in check_sessions(context)
    }
    return to_result(combine(verdicts))


RECONCILIATION_CHECKS = [
    grouped_daily_matches_rest_sample,
    flat_file_day_aggs_matches_grouped_daily,
    flat_file_minute_aggs_consistent_with_day_aggs,
    rest_fills_matches_flat_file_minutes,
    universe_snapshot_covers_traded_tickers,
]
