"""Compaction for read speed: per-period DuckDB files of the session files, in tiles.

Over per-session files, one ticker's 10-year history opens all 2,514 files (4.4 s p50 on
10,000 tickers) and one session's cross-section still pays ~70 ms of path pruning.
`compact_dataset` copies each year (month for minute datasets) into a DuckDB database file,
`<compact root>/<dataset>/<period>.duckdb` (`<lake>/_compacted` for a local lake): a native
table in tiles of exactly one 32,768-row row group (rows of a block of ~128 sessions cut by
ticker, ~256 tickers each, then ordered by session; minute tiles by runs of 3 sessions,
then ticker) plus a manifest of the session files it copied (inode, mtime_ns, size). Every
row group covers a narrow ticker range and a narrow session range, so DuckDB's zone maps
skip nearly all of them for either kind of query.
Measured before choosing (one year of that lake, CPU ms for history / cross-section, busy
machine): Parquet sorted by ticker 35 / 99; Parquet in tiles 70-100 / 32-105 (per-row-group and
dictionary-page overhead in the Parquet reader); native table sorted by ticker 2 / 1,500, by
session 770 / 3; native tiles 13 / 18; hence native tiles. Result on the full lake (bench/
bench_reads.py, load average 5-8 on 2 cores): history 33 ms p50 (adjusted 37 ms), cross-section
14 ms (adjusted 15 ms); 10 years compact in ~50 s. Files are built under a temporary name and
renamed into place, so readers (which attach them READ_ONLY) neither block a compaction nor see
half a file. Only the periods whose session files changed are rewritten. The per-session files
stay the source of truth: deleting `_compacted` loses nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from finance_pipeline import schemas
from finance_pipeline.lake.layout import SessionFile
from finance_pipeline.registry import MINUTE_ASSETS
from finance_pipeline.warehouse.catalog import scan_lake
from finance_pipeline.warehouse.common import (
    WarehouseError,
    one_line,
    read_parquet_sql,
    sql_str,
)
from finance_pipeline.warehouse.views import view_columns

# Millions of rows per session: compacted by month instead of by year.
MONTHLY = MINUTE_ASSETS
TILE_ROWS = 32_768  # rows per tile = DuckDB row group size of the compacted tables
TILE_TICKERS = 256  # target tickers per tile; the session span follows from the density
# Minute datasets: a tile of S sessions x T tickers reads T times the rows a ticker query needs
# and S times those of a cross-section (S x T = tile rows / rows per ticker-session). Research
# reads on minutes are a ticker's history (and its resamples): tiles of one ticker and the whole
# month (T = 1). On 2,000 tickers x 252 sessions (bench B8) one-session tiles read a ticker's
# year in 500 ms, cold; a cross-section reads its whole month instead of one session.
MINUTE_TILE_TICKERS = 1
# Inside a tile, rows go in runs of SUB_SESSIONS sessions (then by ticker, then session). One
# (daily): a session's rows are contiguous, which a cross-section reads. Minute tiles hold
# ~9 tickers' months: runs of 3 sessions keep a ticker's rows in a few contiguous runs instead
# of one run per session, so a ticker query decodes far fewer vectors of the tile. Bench B8's
# year, both layouts in the same run (p50 wall): a ticker's year 70 -> 35 ms, its 5-minute
# month 10.3 -> 8.4 ms, a cross-section 106 -> 110 ms (runs of 7 or whole months: slower
# cross-sections for no faster ticker reads).
SUB_SESSIONS = 1
MINUTE_SUB_SESSIONS = 3

MANIFEST_SCHEMA = pa.schema(
    [
        ("session", pa.date32()),
        ("ino", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("size", pa.int64()),
        ("rows", pa.int64()),
    ]
)


@dataclass(frozen=True)
class CompactionResult:
    dataset: str
    periods: list[str]  # periods (re)written
    sessions: int  # session files copied
    rows: int
    seconds: float
    skipped: list[str] = field(default_factory=list)  # periods already up to date


def period_of(dataset: str, session: dt.date) -> str:
    """The compaction period of a session: its year, or year-month for minute datasets."""
    return f"{session:%Y-%m}" if dataset in MONTHLY else f"{session:%Y}"


def compacted_files(compact_root: Path, dataset: str) -> list[tuple[str, Path]]:
    """(period, path) of the dataset's compacted files, oldest period first."""
    base = compact_root / dataset
    if not base.is_dir():
        return []
    return sorted(
        (p.stem, p) for p in base.glob("*.duckdb") if re.fullmatch(r"\d{4}(-\d{2})?", p.stem)
    )


def read_manifest(path: Path) -> dict[dt.date, tuple[int, int, int]]:
    """session -> version of the session files a compacted file holds."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT session, ino, mtime_ns, size FROM manifest").fetchall()
    finally:
        con.close()
    return {s: (i, m, z) for s, i, m, z in rows}


def _session_span(rows: int, tickers: int, sessions: int, tile_tickers: int) -> int:
    """Sessions per tile, so that a tile of TILE_ROWS rows covers about `tile_tickers`."""
    density = max(rows / max(tickers * sessions, 1), 1e-9)  # rows per (ticker, session)
    return min(sessions, max(1, round(TILE_ROWS / (density * tile_tickers))))


def _manifest_of(files: list[SessionFile]) -> pa.Table:
    """The session files a period file was built from, with their identity and row counts."""
    return pa.Table.from_pylist(
        [
            {"session": f.session, "ino": f.ino, "mtime_ns": f.mtime_ns, "size": f.size}
            | {"rows": pq.ParquetFile(f.path).metadata.num_rows}
            for f in files
        ],
        schema=MANIFEST_SCHEMA,
    )


def write_period(dataset: str, period: str, files: list[SessionFile], dest: Path) -> int:
    """Build one compacted period file under a temporary name, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    for leftover in (temp, Path(f"{temp}.wal")):
        leftover.unlink(missing_ok=True)
    cols = ", ".join(f'"{c}"' for c in view_columns(dataset))
    extra = "".join(f", {k}" for k in schemas.KEYS[dataset] if k not in ("ticker", "session"))
    manifest = _manifest_of(files)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = {sql_str(str(dest.parent / '.spill'))}")
        con.execute(f"ATTACH {sql_str(str(temp))} AS out (ROW_GROUP_SIZE {TILE_ROWS})")
        source = read_parquet_sql([f.path for f in files])
        con.execute(f"CREATE TEMP VIEW src AS SELECT {cols} FROM {source}")
        rows = int(manifest.column("rows").to_numpy().sum())
        tickers = con.execute("SELECT count(DISTINCT ticker) FROM src").fetchall()[0][0]
        minute = dataset in MONTHLY
        tile_tickers = MINUTE_TILE_TICKERS if minute else TILE_TICKERS
        sub = MINUTE_SUB_SESSIONS if minute else SUB_SESSIONS
        span = _session_span(rows, tickers, len(files), tile_tickers)
        # Tiles: rows in (session block, ticker, session) order cut into chunks of exactly one
        # row group, each chunk then ordered by (run of `sub` sessions, ticker, session). Every
        # row group so covers a narrow ticker range and at most `span` sessions.
        con.execute("SET threads = 1")  # sequential appends fill row groups exactly
        con.execute(
            f"""CREATE TABLE out.data AS
            WITH blocks AS (
                SELECT session, (rank - 1) // {span} AS block, (rank - 1) // {sub} AS run
                FROM (SELECT session, dense_rank() OVER (ORDER BY session) AS rank
                      FROM (SELECT DISTINCT session FROM src))),
            tiled AS (
                SELECT src.*, run,
                       (row_number() OVER (ORDER BY block, ticker, session{extra}) - 1)
                           // {TILE_ROWS} AS tile
                FROM src JOIN blocks USING (session))
            SELECT {cols} FROM tiled ORDER BY tile, run, ticker, session{extra}"""
        )
        con.register("manifest_rows", manifest)
        con.execute("CREATE TABLE out.manifest AS SELECT * FROM manifest_rows")
        con.execute(
            "CREATE TABLE out.info AS SELECT ? AS dataset, ? AS period, ? AS tile_rows, "
            "? AS tile_sessions, ? AS run_sessions, now() AS created_at",
            [dataset, period, TILE_ROWS, span, sub],
        )
        con.execute("CHECKPOINT out")
        con.execute("DETACH out")
    except BaseException:
        con.close()
        temp.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(temp, dest)
    Path(f"{temp}.wal").unlink(missing_ok=True)
    return rows


def compact_dataset(
    root: Path, compact_root: Path, dataset: str, *, force: bool = False, lock_timeout: float = 30.0
) -> CompactionResult:
    """Write the periods of `dataset` (session files under `root`) whose files changed since
    they were compacted (every period with `force`); drop periods whose files are all gone.
    One process at a time per dataset (a file lock, waited for up to `lock_timeout` seconds)."""
    started = time.perf_counter()
    target = compact_root / dataset
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot create {target}: {exc.strerror}") from None
    lock = FileLock(str(target / ".compact.lock"))
    written, skipped, sessions, rows = [], [], 0, 0
    try:
        with lock.acquire(timeout=lock_timeout):
            by_period: dict[str, list[SessionFile]] = {}
            for file in scan_lake(root, [dataset])[dataset]:
                by_period.setdefault(period_of(dataset, file.session), []).append(file)
            existing = dict(compacted_files(compact_root, dataset))
            for period, files in sorted(by_period.items()):
                dest = target / f"{period}.duckdb"
                wanted = {f.session: f.version for f in files}
                if not force and period in existing and read_manifest(dest) == wanted:
                    skipped.append(period)
                    continue
                rows += write_period(dataset, period, files, dest)
                sessions += len(files)
                written.append(period)
            for period in set(existing) - set(by_period):  # every session file is gone
                existing[period].unlink(missing_ok=True)
    except Timeout:
        raise WarehouseError(
            f"cannot compact {dataset}: another process has been compacting it for more "
            f"than {lock_timeout:.0f}s"
        ) from None
    except duckdb.Error as exc:
        raise WarehouseError(f"compacting {dataset} failed: {one_line(exc)}") from None
    return CompactionResult(
        dataset, written, sessions, rows, time.perf_counter() - started, skipped
    )
