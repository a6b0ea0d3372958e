"""flat_file_day_aggs and flat_file_minute_aggs: Polygon's S3 flat files, 0 API calls."""

import datetime as dt

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from finance_pipeline import schemas
from finance_pipeline.assets.common import (
    RunMetrics,
    new_york_midnight,
    old_path_calls,
    record_figures,
    source_asset,
)
from finance_pipeline.calendar import parse_session
from finance_pipeline.clients import FlatFile, FlatFilesClient
from finance_pipeline.registry import (
    FLAT_FILE_ASSET,
    FlatFileDataset,
)
from finance_pipeline.resources.flat_files_resource import FlatFilesResource

# Constant columns repeat one chunk of this many rows: a 1.77M-row minute session's four
# constant columns cost ~4 MB instead of ~100 MB (63 MB of them the ETag's), and ~0.2 s less.
_CONSTANT_CHUNK = 1 << 16
# Day files are ~11k rows: a year fits in one run. A real minute file is ~2M rows (~115 MB
# in Arrow), and a run holds its whole range in memory until the IO manager splits it.
DAY_SESSIONS_PER_RUN = 260
MINUTE_SESSIONS_PER_RUN = 10


def flat_file_table(flat_file: FlatFile, asset_name: str) -> pa.Table:
    """The file's rows in the lake's bar shape (the schema of `asset_name`), with the object's
    ETag and LastModified on every row.

    Every row must fall on the file's own session (New York date of window_start); a file that
    carries another day's bars (Polygon's 2019-08-12 day file did) is refused by name.
    """
    info = flat_file.info
    raw = flat_file.table
    rows = raw.num_rows
    lo = new_york_midnight(info.session).value
    hi = new_york_midnight(info.session + dt.timedelta(days=1)).value
    window_start = raw["window_start"]
    stray = pc.or_(pc.less(window_start, lo), pc.greater_equal(window_start, hi))
    outside = pc.sum(stray).as_py() or 0  # the sum of nothing is null
    if outside:
        raise dg.Failure(
            description=(
                f"flat file {info.key} (ETag {info.etag}) has {outside} of {rows} row(s) "
                f"whose window_start is not on its session {info.session} in New York time "
                "(wrong-day file); nothing was stored"
            ),
            metadata={"key": info.key, "session": info.session.isoformat()},
        )
    schema = schemas.DATASETS[asset_name]

    def constant(value: object, name: str) -> pa.ChunkedArray:
        return constant_column(pa.scalar(value, schema.field(name).type), rows)

    columns = {
        **{name: raw[name] for name in ("ticker", "open", "high", "low", "close", "volume")},
        "transactions": raw["transactions"],
        "window_start": window_start.cast(schema.field("window_start").type),
        "session": constant(info.session, "session"),
        "vwap": constant(None, "vwap"),  # flat files carry no vwap
        "source_etag": constant(info.etag, "source_etag"),
        "source_last_modified": constant(info.last_modified, "source_last_modified"),
    }
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)


def constant_column(value: pa.Scalar, rows: int) -> pa.ChunkedArray:
    """`rows` copies of `value` as chunks that share one buffer (zero-copy slices of a single
    chunk of at most _CONSTANT_CHUNK rows)."""
    chunk = pa.repeat(value, min(rows, _CONSTANT_CHUNK))
    full, rest = divmod(rows, _CONSTANT_CHUNK)
    chunks = [chunk] * full + ([chunk.slice(0, rest)] if rest else [])
    return pa.chunked_array(chunks, type=value.type)


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


def session_figures(
    key: str, flat_file: FlatFile, table: pa.Table, tickers: int
) -> dict[str, object]:
    """One session's own numbers: its file, ETag, rows, `tickers` and bytes (1 S3 GET, 0
    calls). `source_etags` ({session: ETag}) is what the flat-file sensor and the correction
    schedule read."""
    info = flat_file.info
    return {
        "dagster/row_count": table.num_rows,
        "tickers": tickers,
        "bytes": int(info.size),
        "bytes_downloaded": int(info.size),
        "s3_gets": 1,
        "api_calls": 0,
        "calls_saved": old_path_calls(tickers, 1),
        "source": info.key,
        "source_etag": info.etag,
        "source_etags": dg.MetadataValue.json({key: info.etag}),
    }


def load_flat_files(
    context: dg.AssetExecutionContext,
    flat_files: FlatFilesResource,
    dataset: FlatFileDataset,
) -> pa.Table:
    """Download and verify the run's files, one table for all its sessions (the IO manager
    writes one partition file per session). Each session's materialization carries its own
    file's figures (`session_figures`); the run's totals are recorded once (`record_figures`)."""
    keys = list(context.partition_keys)
    # Dagster's keys are partitions already: parse_session re-checks them in microseconds, where
    # run_sessions' has_partition_key costs ~1 ms a key (0.3 s for a year's range).
    sessions = [parse_session(key) for key in keys]
    asset_name = FLAT_FILE_ASSET[dataset]
    metrics = RunMetrics()
    tables: list[pa.Table] = []
    figures: dict[str, dict[str, object]] = {}
    old_calls = 0  # the old path: one call per ticker per session
    with metrics.flat_files(flat_files) as client:
        if len(sessions) > 1:
            require_published(client, dataset, sessions)
        for key, session in zip(keys, sessions, strict=True):
            flat_file = client.download(dataset, session)
            metrics.bytes += int(flat_file.info.size)
            table = flat_file_table(flat_file, asset_name)
            tickers = len(pc.unique(table["ticker"]))
            old_calls += old_path_calls(tickers, 1)
            figures[key] = session_figures(key, flat_file, table, tickers)
            tables.append(table)
    table = pa.concat_tables(tables) if tables else schemas.DATASETS[asset_name].empty_table()
    distinct = pc.count_distinct(table["ticker"]).as_py()
    if len(sessions) == 1:
        files = f"{flat_file.info.key} (ETag {flat_file.info.etag})"
    else:
        files = f"{len(sessions)} files, {sessions[0]}..{sessions[-1]}"
    # Once per run: a log line per file is an event-log write per session.
    context.log.info(f"{dataset}: {files}: {table.num_rows} rows, {distinct} tickers")
    run_totals = metrics.metadata(
        rows=table.num_rows, tickers=distinct, old_path_calls=old_calls, sessions=len(sessions)
    )
    record_figures(context, figures, run_totals)
    return table


def _flat_file_asset(
    dataset: FlatFileDataset, per_run: int, description: str
) -> dg.AssetsDefinition:
    """The asset that loads `dataset`'s files, up to `per_run` sessions per backfill run."""

    @source_asset(
        name=FLAT_FILE_ASSET[dataset],
        kinds={"s3"},
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=per_run),
        description=f"{description} Backfills run up to {per_run} sessions per run.",
    )
    def flat_file_asset(
        context: dg.AssetExecutionContext, flat_files: FlatFilesResource
    ) -> pa.Table:
        return load_flat_files(context, flat_files, dataset)

    return flat_file_asset


flat_file_day_aggs = _flat_file_asset(
    "day_aggs_v1",
    DAY_SESSIONS_PER_RUN,
    "Unadjusted daily bars of every ticker from Polygon's day_aggs_v1 flat file on S3: 0 API "
    "calls. Each file is verified (complete gzip, exact header, every row on its session) and "
    "its ETag/LastModified is kept on every row to detect restatements.",
)
flat_file_minute_aggs = _flat_file_asset(
    "minute_aggs_v1",
    MINUTE_SESSIONS_PER_RUN,
    "Unadjusted minute bars (04:00-20:00 New York) of every ticker from Polygon's "
    "minute_aggs_v1 flat file on S3: 0 API calls, verified like the day files, with the "
    "object's ETag/LastModified on every row (a run holds its range in memory).",
)
