"""flat_file_day_aggs and flat_file_minute_aggs: Polygon's S3 flat files, 0 API calls."""

import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.assets.common import (
    RunMetrics,
    new_york_midnight,
    old_path_calls,
    run_sessions,
    source_asset,
)
from finance_pipeline.resources.flat_files import FlatFile, FlatFilesClient, FlatFilesResource

DAY_DATASET = "day_aggs_v1"
MINUTE_DATASET = "minute_aggs_v1"
# Day files are ~11k rows: a year fits in one run. A real minute file is ~2M rows (~200 MB
# in Arrow), and a run holds its whole range in memory until the IO manager splits it.
DAY_SESSIONS_PER_RUN = 260
MINUTE_SESSIONS_PER_RUN = 10


def flat_file_frame(flat_file: FlatFile) -> pd.DataFrame:
    """The file's rows in the lake's bar shape, with the object's ETag and LastModified.

    Every row must fall on the file's own session (New York date of window_start); a file that
    carries another day's bars (Polygon's 2019-08-12 day file did) is refused by name.
    """
    info = flat_file.info
    frame = flat_file.frame  # the run's own download: extended in place, no copy of 2M rows
    lo = new_york_midnight(info.session).value
    hi = new_york_midnight(info.session + dt.timedelta(days=1)).value
    window_start = frame["window_start"].astype("int64")
    outside = int(((window_start < lo) | (window_start >= hi)).sum())
    if outside:
        raise dg.Failure(
            description=(
                f"flat file {info.key} (ETag {info.etag}) has {outside} of {len(frame)} row(s) "
                f"whose window_start is not on its session {info.session} in New York time "
                "(wrong-day file); nothing was stored"
            ),
            metadata={"key": info.key, "session": info.session.isoformat()},
        )
    frame["session"] = info.session
    frame["vwap"] = float("nan")  # flat files carry no vwap
    frame["source_etag"] = info.etag
    frame["source_last_modified"] = info.last_modified
    return frame


def require_published(client: FlatFilesClient, dataset: str, sessions: list[dt.date]) -> None:
    """Fail a range run before any download when files are missing, naming all of them (a
    range is written all or nothing, so one missing day would fail it at the end anyway)."""
    present = client.list_sessions(dataset, sessions[0], sessions[-1])
    missing = [session for session in sessions if session not in present]
    if missing:
        shown = ", ".join(str(day) for day in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise dg.Failure(
            description=(
                f"{dataset}: {len(missing)} of {len(sessions)} session(s) have no flat file "
                f"(not published yet, or never): {shown}{more}; nothing was stored"
            ),
            metadata={"missing_sessions": len(missing)},
        )


def load_flat_files(
    context: dg.AssetExecutionContext,
    flat_files: FlatFilesResource,
    dataset: str,
    asset_name: str,
) -> pa.Table:
    """Download and verify the run's files, one table for all its sessions (the IO manager
    writes one partition file per session)."""
    sessions = run_sessions(context)
    schema = schemas.DATASETS[asset_name]
    metrics = RunMetrics()
    tables: list[pa.Table] = []
    tickers: set[str] = set()
    old_calls = 0
    etags: dict[str, str] = {}
    with metrics.flat_files(flat_files) as client:
        if len(sessions) > 1:
            require_published(client, dataset, sessions)
        for session in sessions:
            flat_file = client.download(dataset, session)
            info = flat_file.info
            metrics.bytes += int(info.size)
            frame = flat_file_frame(flat_file)
            session_tickers = frame["ticker"].unique()
            tickers.update(session_tickers)
            old_calls += old_path_calls(len(session_tickers), 1)
            etags[session.isoformat()] = info.etag
            tables.append(schemas.to_table(frame, schema, asset_name))
            context.log.info(f"{info.key}: {len(frame)} rows, ETag {info.etag}")
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    context.add_output_metadata(
        metrics.metadata(
            rows=table.num_rows,
            tickers=len(tickers),
            old_path_calls=old_calls,
            sessions=len(sessions),
            source_etags=dg.MetadataValue.json(etags),
        )
    )
    return table


@source_asset(
    kinds={"s3"},
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=DAY_SESSIONS_PER_RUN),
    description=(
        "Unadjusted daily bars of every ticker from Polygon's day_aggs_v1 flat file on S3: "
        "0 API calls. Each file is verified (complete gzip, exact header, every row on its "
        "session) and its ETag/LastModified is kept on every row to detect restatements. "
        f"Backfills run up to {DAY_SESSIONS_PER_RUN} sessions per run."
    ),
)
def flat_file_day_aggs(
    context: dg.AssetExecutionContext, flat_files: FlatFilesResource
) -> pa.Table:
    return load_flat_files(context, flat_files, DAY_DATASET, "flat_file_day_aggs")


@source_asset(
    kinds={"s3"},
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=MINUTE_SESSIONS_PER_RUN),
    description=(
        "Unadjusted minute bars (04:00-20:00 New York) of every ticker from Polygon's "
        "minute_aggs_v1 flat file on S3: 0 API calls, verified like the day files, with the "
        "object's ETag/LastModified on every row. Backfills run up to "
        f"{MINUTE_SESSIONS_PER_RUN} sessions per run (a run holds its range in memory)."
    ),
)
def flat_file_minute_aggs(
    context: dg.AssetExecutionContext, flat_files: FlatFilesResource
) -> pa.Table:
    return load_flat_files(context, flat_files, MINUTE_DATASET, "flat_file_minute_aggs")
