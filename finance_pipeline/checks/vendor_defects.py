"""Checks for the vendor's known defects (rules in `rules.vendor_defects`), partitioned by
session and reading only the lake (0 API calls). None is blocking: they report what the
vendor got wrong, naming tickers and dates, without holding back the curated layer.

- `splits` `confirmed_by_prices`: each split row against the raw closes across its session;
- `grouped_daily_bars` / `flat_file_day_aggs` `no_unexplained_price_jumps`: closes against the
  previous stored session's, beyond 3x either way, not explained by a split or dividend;
- `adjustment_factors` `matches_vendor_factors`: our split and dividend factors against the
  vendor's historical_adjustment_factor.
"""

import datetime as dt
from collections.abc import Callable

import dagster as dg
import pandas as pd

from finance_pipeline.calendar import SessionError, previous_session
from finance_pipeline.checks.context import (
    lake_check,
    read_optional,
)
from finance_pipeline.checks.rules.vendor_defects import (
    JUMP_THRESHOLD,
    SPLIT_TOLERANCE,
    price_jump_verdict,
    split_verdict,
    vendor_factor_verdict,
)
from finance_pipeline.checks.rules.verdicts import Severity, Verdict
from finance_pipeline.lake import Lake
from finance_pipeline.registry import (
    ADJUSTMENT_FACTORS,
    DIVIDENDS,
    FLAT_FILE_DAY_AGGS,
    GROUPED_DAILY_BARS,
    SPLITS,
)

# Raw day bars, best first, that confirm a split.
_RAW_DAY_BARS = (FLAT_FILE_DAY_AGGS, GROUPED_DAILY_BARS)


def _frame(lake: Lake, dataset: str, session: dt.date) -> pd.DataFrame | None:
    table = read_optional(lake, dataset, session)
    return None if table is None else table.to_pandas()


def _previous(session: dt.date) -> dt.date | None:
    try:
        return previous_session(session)
    except SessionError:
        return None


def _raw_bars(lake: Lake, session: dt.date | None) -> pd.DataFrame | None:
    for dataset in _RAW_DAY_BARS:
        frame = None if session is None else _frame(lake, dataset, session)
        if frame is not None:
            return frame
    return None


def splits_confirmed(lake: Lake, session: dt.date) -> Verdict:
    splits = _frame(lake, SPLITS, session)
    if splits is None:
        return Verdict.ok(f"{SPLITS} {session} is not stored: nothing to check", skipped=1)
    before = _raw_bars(lake, _previous(session))
    return split_verdict(splits, before, _raw_bars(lake, session), session)


def price_jumps(dataset: str) -> Callable[[Lake, dt.date], Verdict]:
    def evaluate(lake: Lake, session: dt.date) -> Verdict:
        bars = _frame(lake, dataset, session)
        if bars is None:
            return Verdict.ok(f"{dataset} {session} is not stored", skipped=1)
        before = _previous(session)
        previous = None if before is None else _frame(lake, dataset, before)
        actions = [_frame(lake, name, session) for name in (SPLITS, DIVIDENDS)]
        explained = {t for frame in actions if frame is not None for t in frame["ticker"]}
        verdict = price_jump_verdict(bars, previous, explained, session)
        if not verdict.passed and any(frame is None for frame in actions):
            # Without the session's corporate actions a jump may be a split: say so, softly.
            text = verdict.description + " (corporate actions of the session not stored)"
            return Verdict(False, Severity.WARN, text, verdict.metadata)
        return verdict

    return evaluate


def factors_match_vendor(lake: Lake, session: dt.date) -> Verdict:
    frame = _frame(lake, ADJUSTMENT_FACTORS, session)
    if frame is None:
        return Verdict.ok(f"{ADJUSTMENT_FACTORS} {session} is not stored", skipped=1)
    return vendor_factor_verdict(frame, session)


def _check(
    evaluate: Callable[[Lake, dt.date], Verdict],
    *,
    asset: str,
    name: str,
    description: str,
    reads: tuple[str, ...] = (),
) -> dg.AssetChecksDefinition:
    return lake_check(
        evaluate, asset=asset, name=name, description=description, blocking=False, reads=reads
    )


_JUMP_TEXT = (
    f"Closes against the previous stored session's beyond {JUMP_THRESHOLD:g}x either way, not "
    "explained by a split or dividend of the ticker that session, named (garbage tickers with "
    "absurd prices, a known grouped-daily defect). WARN when the session's corporate actions "
    "are not stored."
)

VENDOR_DEFECT_CHECKS = [
    _check(
        splits_confirmed,
        asset=SPLITS,
        name="confirmed_by_prices",
        reads=_RAW_DAY_BARS,
        description=(
            "Each split row confirmed by the raw price ratio across its session (previous close "
            f"/ close within {SPLIT_TOLERANCE:.0%} of split_to/split_from; flat-file day aggs, "
            "else grouped daily): flags wrong and duplicated vendor split rows."
        ),
    ),
    *(
        _check(
            price_jumps(dataset),
            asset=dataset,
            name="no_unexplained_price_jumps",
            description=_JUMP_TEXT,
            reads=(SPLITS, DIVIDENDS),
        )
        for dataset in (GROUPED_DAILY_BARS, FLAT_FILE_DAY_AGGS)
    ),
    _check(
        factors_match_vendor,
        asset=ADJUSTMENT_FACTORS,
        name="matches_vendor_factors",
        description=(
            "The split and dividend factors daily_bars_adjusted applies equal the vendor's "
            "historical_adjustment_factor (relative 1e-6), split and dividend apart, naming each "
            "ticker and session that disagrees."
        ),
    ),
]
