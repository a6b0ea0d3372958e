"""The curated layer: per session, the best source already stored in the lake.

daily_bars: flat_file_day_aggs > grouped_daily_bars. minute_bars: flat_file_minute_aggs >
rest_fills (the watchlist only). The router decides (`router.pick_stored_source`); this module
reads the chosen raw partition, normalizes it to `schemas.CURATED_BARS` and records the raw
asset in the `source` column.

Row rules, the same whatever the source, so a session does not change shape when a better
source replaces another:
- exchange test symbols (ZVZZT, ZWZZT, ZXZZT, *TEST*) are dropped (the curated quality check
  refuses them); counted in `test_symbols_dropped`;
- OTC rows are dropped when the source flags them (grouped daily with include_otc); grouped
  daily leaves them out by default, and so do the sandbox's flat files. Counted in
  `otc_rows_dropped`.

The raw assets are `deps`, not inputs: any one of them may be missing for a session, and the
asset reads them through the lake itself.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from finance_pipeline import router, schemas
from finance_pipeline.assets.common import (
    IO_MANAGER_KEY,
    OWNERS,
    asset_tags,
    record_figures,
    run_sessions,
)
from finance_pipeline.calendar import partition_key
from finance_pipeline.checks.rules.frames import TEST_SYMBOLS
from finance_pipeline.lake import Lake
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.registry import DAILY_BARS, MINUTE_BARS
from finance_pipeline.resources.lake import LakeResource
from finance_pipeline.resources.parquet_io_manager import table_schema

GROUP = "curated"
# Sessions the automation condition watches: the flat-file sensor's window and a margin for
# restatements; older sessions are refreshed by `finance-pipeline backfill --force`.
AUTOMATION_LOOKBACK = dt.timedelta(days=31)
DAILY_SESSIONS_PER_RUN = 260  # ~11k rows per session: a year per run
MINUTE_SESSIONS_PER_RUN = 10  # ~2M rows per session: a run holds its range in memory

_BAR_NAMES = [field.name for field in schemas.BAR_FIELDS]
AC = dg.AutomationCondition


class NoSourceStored(dg.Failure):
    """No raw source of a curated dataset is in the lake for some sessions."""


@dataclass(frozen=True)
class Curated:
    """One session's curated rows and where they came from."""

    session: dt.date
    source: router.Source
    raw_dataset: str
    table: pa.Table
    test_symbols_dropped: int
    otc_rows_dropped: int
    available: tuple[str, ...]  # raw datasets stored for the session, best first


def _is_test_symbol(tickers: pa.ChunkedArray) -> pa.ChunkedArray:
    listed = pc.is_in(tickers, value_set=pa.array(sorted(TEST_SYMBOLS), pa.string()))
    return pc.or_(listed, pc.match_substring(tickers, "TEST"))


def curate_session(lake: Lake, dataset: router.Dataset, session: dt.date) -> Curated | None:
    """The best stored source of `dataset` for `session` as curated rows; None when no source
    is stored. Rows are sorted by the dataset's key, so the output is deterministic."""
    pairs = router.stored_sources(dataset)
    available = [(source, raw) for source, raw in pairs if lake.exists(raw, session)]
    source = router.pick_stored_source(dataset, [source for source, _ in available])
    if source == "unavailable":
        return None
    raw_dataset = dict(pairs)[source]
    table = lake.read(raw_dataset, session)
    test = _is_test_symbol(table["ticker"])
    test_dropped = pc.sum(test).as_py() or 0
    keep = pc.invert(test)
    otc_dropped = 0
    if "otc" in table.column_names:
        otc = pc.fill_null(table["otc"], False)
        otc_dropped = pc.sum(pc.and_(otc, keep)).as_py() or 0
        keep = pc.and_(keep, pc.invert(otc))
    rows = table.filter(keep).select(_BAR_NAMES)
    rows = rows.append_column(
        pa.field("source", pa.string(), nullable=False),
        pa.array([raw_dataset] * rows.num_rows, pa.string()),
    )
    keys = [(name, "ascending") for name in schemas.KEYS[dataset]]
    rows = lake.conform(dataset, rows.take(pc.sort_indices(rows, sort_keys=keys)))
    return Curated(
        session,
        source,
        raw_dataset,
        rows,
        int(test_dropped),
        int(otc_dropped),
        tuple(raw for _, raw in available),
    )


def _missing_message(dataset: router.Dataset, lake: Lake, sessions: list[dt.date]) -> str:
    raws = [raw for _, raw in router.stored_sources(dataset)]
    shown = ", ".join(str(day) for day in sessions[:10])
    more = f" and {len(sessions) - 10} more" if len(sessions) > 10 else ""
    return (
        f"{dataset}: no source stored for {len(sessions)} session(s) ({shown}{more}): "
        f"none of {', '.join(raws)} is in the lake at {lake.root}; materialize one of them "
        "for these sessions first (finance-pipeline backfill ...)"
    )


def build_curated(lake: Lake, dataset: router.Dataset, sessions: list[dt.date]) -> list[Curated]:
    """Every session curated, or NoSourceStored naming every session without a source (nothing
    is returned, so nothing is written, when any session lacks one)."""
    curated, missing = [], []
    for session in sessions:
        one = curate_session(lake, dataset, session)
        if one is None:
            missing.append(session)
        else:
            curated.append(one)
    if missing:
        raise NoSourceStored(
            description=_missing_message(dataset, lake, missing),
            metadata={"sessions_without_source": ", ".join(map(str, missing))},
        )
    return curated


def session_metadata(dataset: router.Dataset, item: Curated) -> dict[str, object]:
    """One session's own figures: its rows, tickers and the raw asset it was built from."""
    return curated_metadata(dataset, [item])


def curated_metadata(dataset: router.Dataset, curated: list[Curated]) -> dict[str, object]:
    """Plottable numbers plus the source as text, for one session or a run's totals: over
    several sessions `source` lists every raw asset used with its session count, and
    `source_rank` is the worst rank in the range (1 = best)."""
    sources = Counter(item.raw_dataset for item in curated)
    if len(curated) == 1:
        source_text = curated[0].raw_dataset
    else:
        source_text = ", ".join(f"{raw} ({n} sessions)" for raw, n in sorted(sources.items()))
    rows = sum(item.table.num_rows for item in curated)
    ticker_sessions = sum(len(pc.unique(item.table["ticker"])) for item in curated)
    tickers = len({t for item in curated for t in pc.unique(item.table["ticker"]).to_pylist()})
    metadata: dict[str, object] = {
        "dagster/row_count": rows,
        "rows": rows,
        "source": source_text,
        "source_rank": max(router.source_rank(dataset, item.source) for item in curated),
        "sessions": len(curated),
        "tickers": tickers,
        "ticker_sessions": ticker_sessions,
        # The old per-ticker path: one call per ticker per session for these bars. The calls
        # this layer saves are counted on the raw assets, so it records none of its own.
        "old_path_calls": ticker_sessions,
        "api_calls": 0,
        "s3_gets": 0,
        "calls_saved": 0,
        "test_symbols_dropped": sum(item.test_symbols_dropped for item in curated),
        "otc_rows_dropped": sum(item.otc_rows_dropped for item in curated),
    }
    for source, raw in router.stored_sources(dataset):
        metadata[f"sessions_from_{source}"] = sources.get(raw, 0)
    if len(curated) > 1:
        metadata["sources_by_session"] = dg.MetadataValue.json(
            {item.session.isoformat(): item.raw_dataset for item in curated}
        )
    return metadata


def curated_condition(dataset: router.Dataset) -> dg.AutomationCondition:
    """Re-materialize a recent session when its chosen source is (re)stored, never when that
    source's blocking checks failed for the session.

    The chosen source is the best one the instance has materialized: the flat file, else the
    fallback. So a flat file landing after grouped daily was used, or a restated flat file,
    triggers a run; a corrected grouped daily does not while a flat file serves the session.
    Checks count as passed when they run in the same tick's request: a failure there stops
    the downstream step in the run itself.
    """
    (_, best), (_, fallback) = router.stored_sources(dataset)
    stored = ~AC.missing() | AC.will_be_requested()
    absent = AC.missing() & ~AC.will_be_requested()
    checks_passed = AC.all_checks_match(
        AC.check_passed() | AC.will_be_requested(), blocking_only=True
    )
    updated = (AC.newly_updated() & ~AC.executed_with_root_target()) | AC.will_be_requested()

    best_ready = AC.asset_matches(best, stored & checks_passed)
    fallback_ready = AC.asset_matches(best, absent) & AC.asset_matches(
        fallback, stored & checks_passed
    )
    chosen_updated = AC.asset_matches(best, updated) | (
        AC.asset_matches(best, absent) & AC.asset_matches(fallback, updated)
    )
    # Dagster's condition generics are invariant in their key type; the operators are not typed
    # for mixed asset/check conditions, so the combination is spelled as Any.
    trigger: Any = AC.newly_missing() | chosen_updated.with_label("chosen_source_updated")
    return (
        AC.in_latest_time_window(AUTOMATION_LOOKBACK)
        & trigger.since_last_handled()
        & (best_ready | fallback_ready).with_label("chosen_source_stored_and_checks_passed")
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
    ).with_label(f"{dataset}: best stored source (re)stored")


def _materialize(
    context: dg.AssetExecutionContext, lake: Lake, dataset: router.Dataset
) -> pa.Table:
    curated = build_curated(lake, dataset, run_sessions(context))
    for item in curated:
        context.log.info(
            f"{dataset} {item.session}: {item.table.num_rows} rows from {item.raw_dataset} "
            f"(stored: {', '.join(item.available)})"
        )
    record_figures(
        context,
        {partition_key(item.session): session_metadata(dataset, item) for item in curated},
        curated_metadata(dataset, curated),
    )
    tables = [item.table for item in curated]
    return pa.concat_tables(tables) if tables else schemas.CURATED_BARS.empty_table()


def _description(dataset: router.Dataset, per_run: int) -> str:
    names = " > ".join(raw for _, raw in router.stored_sources(dataset))
    return (
        f"Curated {'daily' if dataset == DAILY_BARS else 'minute'} bars, unadjusted: per "
        f"session the best source stored in the lake ({names}), named in the `source` column. "
        "Exchange test symbols and OTC-flagged rows are dropped. Fails naming the missing raw "
        "assets when none is stored. Re-materialized automatically when the chosen source is "
        "(re)stored and its blocking checks passed. "
        f"Backfills run up to {per_run} sessions per run."
    )


def _curated_asset(dataset: router.Dataset, per_run: int) -> dg.AssetsDefinition:
    """The curated asset of `dataset`: the best stored raw source per session."""

    @dg.asset(
        name=dataset,
        group_name=GROUP,
        owners=OWNERS,
        tags=asset_tags("curated"),
        metadata={"dagster/column_schema": table_schema(schemas.CURATED_BARS)},
        kinds={"parquet"},
        partitions_def=TRADING_SESSIONS,
        io_manager_key=IO_MANAGER_KEY,
        deps=[raw for _, raw in router.stored_sources(dataset)],
        automation_condition=curated_condition(dataset),
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=per_run),
        description=_description(dataset, per_run),
    )
    def curated(context: dg.AssetExecutionContext, lake: LakeResource) -> pa.Table:
        return _materialize(context, lake.get_lake(), dataset)

    return curated


daily_bars = _curated_asset(DAILY_BARS, DAILY_SESSIONS_PER_RUN)
minute_bars = _curated_asset(MINUTE_BARS, MINUTE_SESSIONS_PER_RUN)

CURATED_ASSETS = [daily_bars, minute_bars]
