"""B3: one session of minute aggs (whole market, CSV.gz) into the lake.

The session's object is fetched once from the sandbox's S3 (that GET is timed on its own and
reported: every path pays it the same). Then each variant runs in a fresh worker process (its
own wall, CPU and peak memory) from that same local CSV.gz to a Parquet file on local disk:
- product: FlatFilesClient.download (body read into memory, header check, pyarrow.csv parse
  from the gzip stream, which verifies the stream's length and CRC) over `LocalObject`, a
  stand-in for the boto3 client serving the fetched bytes -> flat_file_table -> Lake.write
  (zstd, page checksums, atomic rename): what flat_file_minute_aggs and the IO manager do per
  session;
- duckdb: `COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)` (DuckDB's defaults:
  all cores, snappy);
- pandas: `pandas.read_csv` + `DataFrame.to_parquet` (pyarrow, snappy);
- arrow prototype (NOT product code): `pyarrow.csv.read_csv` straight from the gzip (which
  also rejects a truncated stream), types given, `ticker` never null, the product's checks
  redone in Arrow compute, then the product's Lake.write: the sketch the product path was
  rebuilt from, kept as a reference point.
Variants alternate over the repeats; the figure is the median.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    SCRATCH,
    Sizes,
    Target,
    figure,
    flat_file_access,
    in_worker,
    measured,
    median,
    profiled,
    ratio,
    s3_client,
    year_sessions,
)

DATASET = "minute_aggs_v1"
LAKE_DATASET = "flat_file_minute_aggs"
VARIANTS = ("product", "duckdb", "pandas", "arrow")
_CHUNK = 1 << 20


def minute_session(sizes: Sizes) -> dt.date:
    from bench.common import MINUTE_SESSION

    sessions = year_sessions(sizes.sessions)
    return MINUTE_SESSION if MINUTE_SESSION in sessions else sessions[len(sessions) // 2]


def object_key(session: dt.date) -> str:
    return f"us_stocks_sip/{DATASET}/{session:%Y}/{session:%m}/{session.isoformat()}.csv.gz"


def fetch(s3: Any, bucket: str, key: str, path: Path) -> int:
    """Streamed GET of one object to `path` (as the product does it); bytes written."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    written = 0
    with path.open("wb") as out:
        for chunk in body.iter_chunks(_CHUNK):
            out.write(chunk)
            written += len(chunk)
    return written


class LocalObject:
    """Stands in for the boto3 client inside FlatFilesClient: serves the object already fetched
    to local disk (same bytes, ETag, size), so every variant starts from the same file and the
    product's own download -> verify -> parse code runs unchanged."""

    def __init__(self, path: Path, etag: str, last_modified: dt.datetime) -> None:
        self.path, self.etag, self.last_modified = path, etag, last_modified

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        from botocore.response import StreamingBody

        size = self.path.stat().st_size
        return {
            "Body": StreamingBody(self.path.open("rb"), size),
            "ETag": f'"{self.etag}"',
            "LastModified": self.last_modified,
            "ContentLength": size,
        }


# ---- variants (run in worker processes) -----------------------------------------------------
def ingest(variant: str, packed: str, etag: str, session: dt.date, out_dir: str) -> dict:
    """One variant from the local object `packed` to Parquet under `out_dir`, measured."""
    out = Path(out_dir)
    source = Path(packed)
    if variant == "product":
        from finance_pipeline.assets.flat_file_aggs import flat_file_table
        from finance_pipeline.clients import FlatFilesClient
        from finance_pipeline.lake import Lake

        stand_in = LocalObject(source, etag, dt.datetime.now(dt.UTC))
        client = FlatFilesClient(stand_in)
        lake = Lake(str(out / "lake"))
        with measured() as measurement:
            table = flat_file_table(client.download(DATASET, session), LAKE_DATASET)
            written = lake.write(LAKE_DATASET, session, table)
        rows, size = written.rows, written.bytes
    else:
        run = {"duckdb": _duckdb, "pandas": _pandas, "arrow": _arrow}[variant]
        with measured() as measurement:
            rows = run(source, out / "out.parquet", session, out)
        size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    return {"variant": variant, "rows": rows, "bytes": size, **measurement.as_dict()}


def fetch_measured(access: dict[str, str], key: str, path: str) -> dict:
    """The streamed S3 GET alone (the transfer every variant would add in production)."""
    s3 = s3_client(access)
    with measured() as measurement:
        size = fetch(s3, access["bucket"], key, Path(path))
    return {"bytes": size, **measurement.as_dict()}


def _duckdb(packed: Path, target: Path, session: dt.date, out: Path) -> int:
    import duckdb

    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"COPY (SELECT * FROM read_csv('{packed}', header=true, columns={{"
            "'ticker': 'VARCHAR', 'volume': 'DOUBLE', 'open': 'DOUBLE', 'close': 'DOUBLE', "
            "'high': 'DOUBLE', 'low': 'DOUBLE', 'window_start': 'BIGINT', "
            f"'transactions': 'BIGINT'}})) TO '{target}' (FORMAT parquet)"
        )
        return int(con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0])


def _pandas(packed: Path, target: Path, session: dt.date, out: Path) -> int:
    import pandas as pd

    from finance_pipeline.clients.polygon_flat_files import DTYPES, HEADER

    frame = pd.read_csv(
        packed,
        dtype=DTYPES,
        keep_default_na=False,
        na_values={c: [""] for c in HEADER if c != "ticker"},
    )
    frame.to_parquet(target, index=False)
    return len(frame)


def _arrow(packed: Path, target: Path, session: dt.date, out: Path) -> int:
    """A prototype of an Arrow-native ingest path with the product's checks (see module doc)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    from finance_pipeline import schemas
    from finance_pipeline.assets.common import new_york_midnight
    from finance_pipeline.clients.polygon_flat_files import COLUMN_TYPES, HEADER
    from finance_pipeline.lake import Lake

    table = pa_csv.read_csv(
        packed,  # the gzip is inflated whole; a truncated file or bad CRC raises here
        read_options=pa_csv.ReadOptions(block_size=8 << 20),
        convert_options=pa_csv.ConvertOptions(
            column_types=COLUMN_TYPES,
            include_columns=list(HEADER),
            strings_can_be_null=False,  # `ticker` NA/NULL stay strings
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )
    if tuple(table.column_names) != HEADER:
        raise ValueError(f"header changed: {table.column_names}")
    lo = new_york_midnight(session).value
    hi = new_york_midnight(session + dt.timedelta(days=1)).value
    ws = table["window_start"]
    outside = pc.sum(pc.or_(pc.less(ws, lo), pc.greater_equal(ws, hi))).as_py() or 0
    if outside:
        raise ValueError(f"{outside} rows not on {session}")
    n = table.num_rows
    table = (
        table.append_column("session", pa.repeat(pa.scalar(session, pa.date32()), n))
        .append_column("vwap", pa.repeat(pa.scalar(float("nan")), n))
        .append_column("source_etag", pa.repeat(pa.scalar("etag"), n))
        .append_column("source_last_modified", pa.repeat(pa.scalar(0, schemas.TIMESTAMP), n))
        .set_column(6, "window_start", pc.cast(ws, schemas.TIMESTAMP))
    )
    Lake(str(out / "lake")).write(LAKE_DATASET, session, table)
    return n


# ---- the figure ----------------------------------------------------------------------------
def run(sizes: Sizes, sandbox: Any) -> dict[str, dict[str, Any]]:
    from finance_pipeline.clients import FlatFilesClient

    session = minute_session(sizes)
    access = flat_file_access(sandbox)
    head = FlatFilesClient(sandbox.s3_client(), bucket=sandbox.bucket).head(DATASET, session)
    if head is None:  # the HEAD above makes the sandbox generate and publish the file
        raise RuntimeError(f"the sandbox did not publish the {DATASET} file of {session}")
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    SCRATCH.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=SCRATCH) as work:
        packed = str(Path(work) / "object.csv.gz")
        fetched = in_worker(fetch_measured, access, head.key, packed, what="b3 S3 GET")
        for _ in range(sizes.b3_repeats):
            for variant in VARIANTS:
                with tempfile.TemporaryDirectory(dir=work) as out_dir:
                    result = in_worker(
                        ingest, variant, packed, head.etag, session, out_dir, what=f"b3 {variant}"
                    )
                runs[variant].append(result)
        profile: list[str] = []
        if sizes.profile:
            with tempfile.TemporaryDirectory(dir=work) as out_dir:
                profile = in_worker(
                    profiled,
                    ingest,
                    "product",
                    packed,
                    head.etag,
                    session,
                    out_dir,
                    what="b3 product under cProfile",
                )
    rows = {variant: {r["rows"] for r in results} for variant, results in runs.items()}
    if len(set().union(*rows.values())) != 1:
        raise RuntimeError(f"B3 variants wrote different row counts: {rows}")
    n_rows = runs["product"][0]["rows"]

    def summary(variant: str) -> dict[str, Any]:
        results = runs[variant]
        return {
            "wall_seconds_median": median([r["wall_seconds"] for r in results]),
            "cpu_seconds_median": median([r["cpu_seconds"] for r in results]),
            "peak_rss_mb_max": max(r["peak_rss_bytes"] for r in results) / 1e6,
            "peak_over_start_mb_max": max(r["peak_over_start_bytes"] for r in results) / 1e6,
            "output_mb": results[0]["bytes"] / 1e6,
            "wall_seconds_all": [round(r["wall_seconds"], 3) for r in results],
        }

    stats = {variant: summary(variant) for variant in VARIANTS}
    product, duck = stats["product"], stats["duckdb"]
    common = {
        "session": session.isoformat(),
        "rows": n_rows,
        "object_mb_gz": head.size / 1e6,
        "market_tickers": sizes.market_tickers,
        "repeats": sizes.b3_repeats,
        "variants": stats,
        "s3_get_seconds": fetched["wall_seconds"],
        "s3_get_cpu_seconds": fetched["cpu_seconds"],
        "product_profile_top_own_time": profile,
    }
    where = (
        f"{n_rows:,} rows ({head.size / 1e6:.1f} MB gz, {sizes.market_tickers:,}-ticker market, "
        f"session {session}), fetched once from the sandbox's S3 ({fetched['wall_seconds']:.1f} s, "
        "not counted below); each variant in its own fresh process from that local CSV.gz to a "
        f"Parquet file, median of {sizes.b3_repeats}; the product path runs "
        "FlatFilesClient.download unchanged over a local stand-in for the boto3 client"
    )

    def line(variant: str) -> str:
        s = stats[variant]
        return (
            f"{variant} {s['wall_seconds_median']:.2f} s wall / {s['cpu_seconds_median']:.2f} s "
            f"CPU / +{s['peak_over_start_mb_max']:.0f} MB peak"
        )

    return {
        "b3_ingest_vs_duckdb": figure(
            "B3 minute flat file to lake: product path vs DuckDB COPY",
            value=product["wall_seconds_median"],
            unit="s",
            baseline=duck["wall_seconds_median"],
            baseline_label="DuckDB COPY (SELECT * FROM read_csv) TO parquet",
            ratio=ratio(product["wall_seconds_median"], duck["wall_seconds_median"]),
            target=Target("<=", 1.3, text="<= 1.3x DuckDB"),
            how=f"{where}. {line('product')}; {line('duckdb')}.",
            details=common,
        ),
        "b3_ingest_vs_pandas": figure(
            "B3 minute flat file to lake: product path vs pandas read_csv + to_parquet",
            value=product["wall_seconds_median"],
            unit="s",
            baseline=stats["pandas"]["wall_seconds_median"],
            baseline_label="pandas read_csv + to_parquet",
            ratio=ratio(product["wall_seconds_median"], stats["pandas"]["wall_seconds_median"]),
            target=None,
            how=f"{where}. {line('product')}; {line('pandas')}. Informational.",
            details={"session": session.isoformat(), "rows": n_rows},
        ),
        "b3_arrow_prototype_vs_duckdb": figure(
            "B3 minute flat file to lake: Arrow-native prototype (not product code) vs DuckDB",
            value=stats["arrow"]["wall_seconds_median"],
            unit="s",
            baseline=duck["wall_seconds_median"],
            baseline_label="DuckDB COPY (SELECT * FROM read_csv) TO parquet",
            ratio=ratio(stats["arrow"]["wall_seconds_median"], duck["wall_seconds_median"]),
            target=Target(
                "<=", 1.3, text="<= 1.3x DuckDB (the sketch the product was rebuilt from)"
            ),
            how=(
                f"{where}. {line('arrow')}: pyarrow.csv parse with the product's checks and "
                "Lake.write, written before the product path moved to Arrow; kept as a "
                "reference point for the product figure above."
            ),
            details={"session": session.isoformat(), "rows": n_rows},
        ),
    }
