"""Quality checks on every bars asset, one result per session partition.

Per asset, one multi-check reads the stored partition once and reports:
- `schema` (blocking): the stored file has exactly the dataset's schema;
- `unique_keys` (blocking): no duplicated `schemas.KEYS` rows;
- `bar_invariants` (blocking): low <= open, close <= high, volume >= 0, no missing prices;
- `session_window` (blocking): every row on the partition's session, window starts at 00:00
  New York (day bars) or 04:00-20:00 New York (minute bars): catches a wrong-day file;
- `row_count` (blocking): at least half the median of the last 5 stored sessions;
- `test_symbols`: exchange test symbols flagged with a count in raw data, refused (ERROR,
  blocking) in curated data.
A failed blocking check at ERROR keeps the curated layer from consuming that session.
"""

import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa

from finance_pipeline.calendar import previous_session
from finance_pipeline.checks.context import (
    LAKE_RESOURCE_KEY,
    SessionResults,
    check_sessions,
    lake_of,
    session_results,
    stored_footer,
    stored_source,
)
from finance_pipeline.checks.rules import quality
from finance_pipeline.checks.rules.verdicts import Verdict
from finance_pipeline.lake import Lake, LakeError
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.registry import BAR_ASSETS, CURATED_ASSETS, MINUTE_ASSETS, REST_FILLS
from finance_pipeline.schemas import SchemaError

# Assets whose partitions may legitimately be empty (rest_fills skips sessions flat files cover).
MAY_BE_EMPTY = frozenset({REST_FILLS})
ROW_HISTORY_SESSIONS = 5
ROW_MIN_SHARE = 0.5
# How far back to look for the last ROW_HISTORY_SESSIONS stored sessions.
_HISTORY_LOOKBACK = 15

CHECK_NAMES = (
    "schema",
    "unique_keys",
    "bar_invariants",
    "session_window",
    "row_count",
    "test_symbols",
)


def _row_history(
    lake: Lake, dataset: str, session: dt.date, source: str | None = None
) -> list[int]:
    """Row counts of up to ROW_HISTORY_SESSIONS stored sessions before `session`; with `source`
    (curated data), only sessions built from that same source: a watchlist-only REST session
    must not be measured against whole-market flat-file sessions."""
    counts: list[int] = []
    day = session
    for _ in range(_HISTORY_LOOKBACK):
        day = previous_session(day)
        footer = stored_footer(lake, dataset, day)
        if footer is not None and (source is None or stored_source(lake, dataset, day) == source):
            counts.append(footer[1])
            if len(counts) == ROW_HISTORY_SESSIONS:
                break
    return counts


def _load(lake: Lake, dataset: str, session: dt.date) -> tuple[pa.Table | None, str]:
    """The stored table, or None and why it cannot be read (absent, unreadable, schema)."""
    try:
        return lake.read(dataset, session), ""
    except (SchemaError, LakeError, LookupError) as exc:
        return None, str(exc)


def evaluate_partition(lake: Lake, dataset: str, session: dt.date) -> dict[str, Verdict]:
    """Every quality verdict of one stored partition, keyed by check name."""
    granularity: quality.Granularity = "minute" if dataset in MINUTE_ASSETS else "day"
    table, problem = _load(lake, dataset, session)
    if table is None:
        missing = Verdict.error(f"{dataset} {session} cannot be checked: {problem}")
        return dict.fromkeys(CHECK_NAMES, missing)
    footer = stored_footer(lake, dataset, session)
    written_schema = footer[0] if footer else table.schema  # the file as written, uncast
    frame: pd.DataFrame = table.to_pandas()
    rows = len(frame)
    source = frame["source"].iloc[0] if dataset in CURATED_ASSETS and rows else None
    history = [] if dataset in MAY_BE_EMPTY else _row_history(lake, dataset, session, source)
    return {
        "schema": quality.schema_verdict(written_schema, dataset),
        "unique_keys": quality.unique_keys_verdict(frame, dataset),
        "bar_invariants": quality.bar_invariants_verdict(frame),
        "session_window": quality.session_window_verdict(frame, session, granularity),
        "row_count": quality.row_count_verdict(rows, history, min_share=ROW_MIN_SHARE),
        "test_symbols": quality.exchange_test_symbols_verdict(
            frame, allowed=dataset not in CURATED_ASSETS
        ),
    }


def quality_checks(dataset: str) -> dg.AssetChecksDefinition:
    """The quality multi-check of one bars asset (partition-aware, selectable one by one)."""
    curated = dataset in CURATED_ASSETS
    key = dg.AssetKey(dataset)
    descriptions = {
        "schema": "Stored file has exactly the dataset's Arrow schema.",
        "unique_keys": "No duplicated key rows (schemas.KEYS).",
        "bar_invariants": "low <= open, close <= high; volume >= 0; no missing prices.",
        "session_window": (
            "Every row on the partition's session; window_start at 00:00 New York for day "
            "bars, 04:00-20:00 New York for minute bars (catches wrong-day files)."
        ),
        "row_count": (
            f"Rows >= {ROW_MIN_SHARE:.0%} of the median of the last {ROW_HISTORY_SESSIONS} "
            "stored sessions (catches partial or empty whole-market results)."
        ),
        "test_symbols": (
            "Exchange test symbols (ZVZZT, ZWZZT, ZXZZT, *TEST*): refused in curated data."
            if curated
            else "Exchange test symbols (ZVZZT, ZWZZT, ZXZZT, *TEST*): flagged with a count."
        ),
    }
    specs = [
        dg.AssetCheckSpec(
            name,
            asset=key,
            description=descriptions[name],
            blocking=curated or name != "test_symbols",
            partitions_def=TRADING_SESSIONS,
        )
        for name in CHECK_NAMES
    ]

    @dg.multi_asset_check(
        name=f"{dataset}_quality",
        specs=specs,
        can_subset=True,
        required_resource_keys={LAKE_RESOURCE_KEY},
        description=f"Data quality of each stored {dataset} session.",
    )
    def _quality(context: dg.AssetCheckExecutionContext) -> SessionResults:
        lake = lake_of(context)
        selected = {k.name for k in context.selected_asset_check_keys if k.asset_key == key}
        per_session = {s: evaluate_partition(lake, dataset, s) for s in check_sessions(context)}
        yield from session_results(
            context,
            key,
            {
                name: {s: verdicts[name] for s, verdicts in per_session.items()}
                for name in CHECK_NAMES
                if name in selected
            },
        )

    return _quality


QUALITY_CHECKS = [quality_checks(dataset) for dataset in BAR_ASSETS]
