"""Reconciliation checks: the cheap paths must give the old path's numbers, session by session.

All comparisons are on the New York session, unadjusted, with exchange test symbols dropped on
both sides (tolerances in `rules.comparison`). Each check records rows_compared, matched,
mismatched, only_left, only_right, max_rel_diff and offenders, and is partitioned by session.
A counterpart that is not stored yet is not a failure: the check passes with `skipped=1`.
The comparisons between stored assets are here (0 API calls); the REST sample, which spends
API calls, is in `rest_sample`.
"""

import datetime as dt

import dagster as dg
import pyarrow.compute as pc
from pydantic import Field

from finance_pipeline.checks.context import (
    LAKE_RESOURCE_KEY,
    SessionResults,
    check_sessions,
    lake_check,
    lake_of,
    read_optional,
    session_results,
)
from finance_pipeline.checks.rest_sample import grouped_daily_matches_rest_sample
from finance_pipeline.checks.rules.comparison import (
    compare_bars,
    compare_minutes_to_days,
    skipped,
)
from finance_pipeline.checks.rules.coverage import universe_coverage
from finance_pipeline.checks.rules.frames import without_otc
from finance_pipeline.checks.rules.verdicts import Verdict
from finance_pipeline.lake import Lake
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.registry import (
    FLAT_FILE_DAY_AGGS,
    FLAT_FILE_MINUTE_AGGS,
    GROUPED_DAILY_BARS,
    REST_FILLS,
    UNIVERSE_SNAPSHOT,
)

# ------------------------------------------------------------ flat-file day aggs vs grouped daily


def flat_vs_grouped(lake: Lake, session: dt.date) -> Verdict:
    flat = read_optional(lake, FLAT_FILE_DAY_AGGS, session)
    grouped = read_optional(lake, GROUPED_DAILY_BARS, session)
    if flat is None or grouped is None:
        absent = FLAT_FILE_DAY_AGGS if flat is None else GROUPED_DAILY_BARS
        return skipped(f"{absent} {session} is not stored: nothing to compare")
    grouped_frame, otc = without_otc(grouped.to_pandas())
    comparison = compare_bars(
        flat.to_pandas(),
        grouped_frame,
        left_name=FLAT_FILE_DAY_AGGS,
        right_name=GROUPED_DAILY_BARS,
    )
    verdict = comparison.verdict()
    verdict.metadata.update({"api_calls": 0, "otc_excluded": otc})
    return verdict


flat_file_day_aggs_matches_grouped_daily = lake_check(
    flat_vs_grouped,
    asset=FLAT_FILE_DAY_AGGS,
    name="matches_grouped_daily",
    description=(
        "The whole cross-section of the day flat file against grouped daily for the same "
        "session: 0 API calls. Prices within 1e-4 relative (ERROR), volume drift WARN, tickers "
        "on one side only WARN (ERROR above 5%). Grouped daily's OTC rows (include_otc) are "
        "left out: flat files carry SIP data only."
    ),
)


# -------------------------------------------------------------- minute flat files vs day flat files


def minutes_vs_days(lake: Lake, session: dt.date) -> Verdict:
    days = read_optional(lake, FLAT_FILE_DAY_AGGS, session)
    if days is None:
        return skipped(f"{FLAT_FILE_DAY_AGGS} {session} is not stored: nothing to compare")
    minutes = lake.read(FLAT_FILE_MINUTE_AGGS, session).select(["ticker", "high", "low", "volume"])
    comparison = compare_minutes_to_days(minutes.to_pandas(), days.to_pandas())
    verdict = comparison.verdict()
    verdict.metadata["api_calls"] = 0
    return verdict


flat_file_minute_aggs_consistent_with_day_aggs = lake_check(
    minutes_vs_days,
    asset=FLAT_FILE_MINUTE_AGGS,
    name="consistent_with_day_aggs",
    description=(
        "Per ticker, the day flat file's high is the highest minute high and its low the "
        "lowest minute low (1e-4 relative, ERROR); summed minute volume does not exceed the "
        "day volume (WARN: minutes may be missing, never extra). 0 API calls."
    ),
)


# ----------------------------------------------------------------- REST fills vs minute flat files


def rest_fills_vs_flat_minutes(lake: Lake, session: dt.date) -> Verdict:
    fills = lake.read(REST_FILLS, session)
    if fills.num_rows == 0:
        return skipped(f"{REST_FILLS} {session} is empty (flat files covered it)")
    minutes = read_optional(lake, FLAT_FILE_MINUTE_AGGS, session)
    if minutes is None:
        return skipped(f"{FLAT_FILE_MINUTE_AGGS} {session} is not stored yet: nothing to compare")
    tickers = pc.unique(fills["ticker"])
    minutes = minutes.filter(pc.is_in(minutes["ticker"], value_set=tickers))
    comparison = compare_bars(
        fills.to_pandas(),
        minutes.to_pandas(),
        on=("ticker", "window_start"),
        left_name=REST_FILLS,
        right_name=FLAT_FILE_MINUTE_AGGS,
    )
    verdict = comparison.verdict()
    verdict.metadata["api_calls"] = 0
    return verdict


rest_fills_matches_flat_file_minutes = lake_check(
    rest_fills_vs_flat_minutes,
    asset=REST_FILLS,
    name="matches_flat_file_minutes",
    description=(
        "Per-ticker REST minute bars against the minute flat file for the same tickers, joined "
        "on the minute's window start, where both are stored. Prices within 1e-4 relative "
        "(ERROR), volume drift WARN. 0 API calls."
    ),
)


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
    universe = read_optional(lake, UNIVERSE_SNAPSHOT, session)
    if universe is None:
        return skipped(f"{UNIVERSE_SNAPSHOT} {session} is not stored")
    grouped = read_optional(lake, GROUPED_DAILY_BARS, session)
    if grouped is not None:
        source = GROUPED_DAILY_BARS
        traded = without_otc(grouped.select(["ticker", "otc"]).to_pandas())[0]["ticker"]
    else:
        days = read_optional(lake, FLAT_FILE_DAY_AGGS, session)
        if days is None:
            return skipped(f"no bars stored for {session} to say which tickers traded")
        source = FLAT_FILE_DAY_AGGS
        traded = days.select(["ticker"]).to_pandas()["ticker"]
    coverage = universe_coverage(universe.select(["ticker"]).to_pandas()["ticker"], traded)
    verdict = coverage.verdict(min_share, error_share)
    verdict.metadata.update({"traded_source": source, "api_calls": 0})
    return verdict


@dg.asset_check(  # type: ignore[arg-type]  # a generator: see lake_check
    asset=UNIVERSE_SNAPSHOT,
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
) -> SessionResults:
    lake = lake_of(context)
    verdicts = {
        s: universe_vs_traded(lake, s, config.min_share, config.error_share)
        for s in check_sessions(context)
    }
    yield from session_results(
        context, dg.AssetKey(UNIVERSE_SNAPSHOT), {"covers_traded_tickers": verdicts}
    )


RECONCILIATION_CHECKS = [
    grouped_daily_matches_rest_sample,
    flat_file_day_aggs_matches_grouped_daily,
    flat_file_minute_aggs_consistent_with_day_aggs,
    rest_fills_matches_flat_file_minutes,
    universe_snapshot_covers_traded_tickers,
]
