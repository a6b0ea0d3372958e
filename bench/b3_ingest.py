"""B3: one session of minute aggs (whole market, CSV.gz) into the lake.

The session's object is fetched once from the sandbox's S3 (that GET is timed on its own and
reported: every path pays it the same). Then each variant runs in a fresh worker process (its
own wall, CPU and peak memory) from that same local CSV.gz to a Parquet file on local disk:
- product: FlatFilesClient.download (body read into memory, header check, pyarrow.csv parse
  of the ISA-L-inflated stream, which verifies the stream's length and CRC) over
  `LocalObject`, a stand-in for the boto3 client serving the fetched bytes -> flat_file_table
  -> publish_sessions (write-audit-publish: zstd Parquet with page checksums, the audit of the
  rows, the manifest entry's digests, atomic renames of the file and its entry): what
  flat_file_minute_aggs and the IO manager do per session;
- gunzip: `gunzip -c` of the same file to /dev/null (the decompression floor);
- duckdb: `COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)` (DuckDB's defaults:
  all cores, snappy);
- pandas: `pandas.read_csv` + `DataFrame.to_parquet` (pyarrow, snappy).
Variants alternate over the repeats; the figure is the median.
"""

from __future__ import annotations

import datetime as dt
import resource
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
VARIANTS = ("product", "gunzip", "duckdb", "pandas")
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
        from finance_pipeline.lake.publish import publish_sessions

        stand_in = LocalObject(source, etag, dt.datetime.now(dt.UTC))
        client = FlatFilesClient(stand_in)
        lake = Lake(str(out / "lake"))
        with measured() as measurement:
            table = flat_file_table(client.download(DATASET, session), LAKE_DATASET)
            (written,) = publish_sessions(lake, LAKE_DATASET, table, [session])
        rows, size = written.rows, written.bytes
    elif variant == "gunzip":
        return _gunzip(source)
    else:
        run = {"duckdb": _duckdb, "pandas": _pandas}[variant]
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


def _gunzip(packed: Path) -> dict:
    """`gunzip -c` to /dev/null in a child process: its wall, CPU and peak memory."""
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with measured() as measurement:
        subprocess.run(["gunzip", "-c", str(packed)], stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    figures = measurement.as_dict()
    # The child's own high-water mark (gunzip's is a few MB); this process did nothing.
    figures.update(cpu_seconds=cpu, peak_rss_bytes=after.ru_maxrss * 1024)
    figures["peak_over_start_bytes"] = figures["peak_rss_bytes"]
    return {"variant": "gunzip", "rows": None, "bytes": 0, **figures}


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
    rows = {v: {r["rows"] for r in results} for v, results in runs.items() if v != "gunzip"}
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
        "not counted below); each variant in its own fresh process from that local CSV.gz, "
        f"median of {sizes.b3_repeats}; the product path runs FlatFilesClient.download "
        "unchanged over a local stand-in for the boto3 client, then write-audit-publish "
        "(publish_sessions: Parquet, audit, manifest entry)"
    )
    return _figures(stats, where, common)


def _line(stats: dict[str, dict[str, Any]], variant: str) -> str:
    s = stats[variant]
    return (
        f"{variant} {s['wall_seconds_median']:.2f} s wall / {s['cpu_seconds_median']:.2f} s "
        f"CPU / +{s['peak_over_start_mb_max']:.0f} MB peak"
    )


def _figures(
    stats: dict[str, dict[str, Any]], where: str, common: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    product, duck, gunzip = stats["product"], stats["duckdb"], stats["gunzip"]
    short = {"session": common["session"], "rows": common["rows"]}
    both = f"{_line(stats, 'product')}; {_line(stats, 'duckdb')}"
    wall = "wall_seconds_median"
    memory = "peak_over_start_mb_max"
    return {
        "b3_ingest_vs_duckdb": figure(
            "B3 minute flat file to verified lake file: product path vs DuckDB COPY",
            value=product[wall],
            unit="s",
            baseline=duck[wall],
            baseline_label="DuckDB COPY (SELECT * FROM read_csv) TO parquet",
            ratio=ratio(product[wall], duck[wall]),
            target=Target("<=", 0.7, text="<= 0.7x DuckDB COPY"),
            how=f"{where}. {both}.",
            details=common,
        ),
        "b3_ingest_vs_gunzip": figure(
            "B3 minute flat file to verified lake file: product path vs gunzip of the same file",
            value=product[wall],
            unit="s",
            baseline=gunzip[wall],
            baseline_label="gunzip -c FILE > /dev/null",
            ratio=ratio(product[wall], gunzip[wall]),
            target=Target("<=", 1.5, text="<= 1.5x gunzip"),
            how=f"{where}. {_line(stats, 'product')}; {_line(stats, 'gunzip')}.",
            details=short,
        ),
        "b3_ingest_peak_memory_vs_duckdb": figure(
            "B3 minute flat file to lake: peak memory, product path vs DuckDB COPY",
            value=product[memory],
            unit="MB",
            baseline=duck[memory],
            baseline_label="DuckDB COPY's peak over its start",
            ratio=ratio(product[memory], duck[memory]),
            target=Target("<=", 1.0, text="<= DuckDB's peak"),
            how=(
                f"{where}. Resident high-water mark of each worker over its resident size at "
                f"the start (both import the same modules first). {both}."
            ),
            details=short,
        ),
        "b3_ingest_vs_pandas": figure(
            "B3 minute flat file to lake: product path vs pandas read_csv + to_parquet",
            value=product[wall],
            unit="s",
            baseline=stats["pandas"][wall],
            baseline_label="pandas read_csv + to_parquet",
            ratio=ratio(product[wall], stats["pandas"][wall]),
            target=None,
            how=f"{where}. {_line(stats, 'product')}; {_line(stats, 'pandas')}. Informational.",
            details=short,
        ),
    }
