"""The lake's session files and the warehouse database that keeps their bookkeeping.

The warehouse database (default `<lake>/warehouse.duckdb`) keeps only bookkeeping: the catalog
of file metadata (rows, distinct source / source_etag, keyed by file version, so only new files
are read) and the ETag history. It is opened briefly, never held, so processes do not lock
each other out.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finance_pipeline.lake.layout import SessionFile, local_session_files
from finance_pipeline.registry import CURATED_ASSETS, FLAT_FILE_ASSETS
from finance_pipeline.warehouse.common import WarehouseError, one_line

log = logging.getLogger(__name__)

CATALOG_THREADS = 4

CATALOG_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("session", pa.date32()),
        ("path", pa.string()),
        ("ino", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("size", pa.int64()),
        ("rows", pa.int64()),
        ("sources", pa.list_(pa.string())),
        ("etags", pa.list_(pa.string())),
    ]
)
HISTORY_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("session", pa.date32()),
        ("source_etag", pa.string()),
        ("first_seen", pa.timestamp("us", tz="UTC")),
    ]
)


# --------------------------------------------------------------------------- the lake's files


def scan_lake(root: Path, datasets: Iterable[str]) -> dict[str, list[SessionFile]]:
    """Every session file of `datasets` under a local lake root, oldest session first
    (`layout.local_session_files`: temporary files and bad `session=` directories skipped)."""
    found: dict[str, list[SessionFile]] = {}
    for dataset in datasets:
        try:
            found[dataset] = local_session_files(root, dataset)
        except OSError as exc:
            raise WarehouseError(f"cannot list {root / dataset}: {exc.strerror}") from None
    return found


def _distinct_strings(path: str, column: str) -> list[str]:
    values = pq.read_table(path, columns=[column]).column(column)
    return sorted(v for v in pc.unique(values).to_pylist() if v is not None)


def _describe(file: SessionFile) -> dict[str, Any]:
    """Catalog entry of one file: rows from the footer, distinct source / source_etag."""
    rows: int | None
    try:
        rows = pq.ParquetFile(file.path).metadata.num_rows
        sources = _distinct_strings(file.path, "source") if file.dataset in CURATED_ASSETS else []
        flat = file.dataset in FLAT_FILE_ASSETS
        etags = _distinct_strings(file.path, "source_etag") if flat else []
    except (OSError, pa.ArrowException) as exc:
        # Only the queries that read it fail (naming it); the rest of the lake stays usable.
        log.warning("%s is not a readable Parquet file: %s", file.path, one_line(exc))
        rows, sources, etags = None, [], []
    return {
        "dataset": file.dataset,
        "session": file.session,
        "path": file.path,
        "ino": file.ino,
        "mtime_ns": file.mtime_ns,
        "size": file.size,
        "rows": rows,
        "sources": sources,
        "etags": etags,
    }


# --------------------------------------------------------------------------- bookkeeping


def _connect_with_retry(path: str, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB database file, polling while another process holds its lock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WarehouseError(f"cannot open {path}: {one_line(exc)}") from None
            time.sleep(0.05)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open {path}: {one_line(exc)}") from None


class StateStore:
    """The warehouse database: file catalog and ETag history. Opened briefly, never held."""

    def __init__(self, path: str | None, read_only: bool, timeout: float) -> None:
        self.path = path
        self.read_only = read_only
        self.timeout = timeout

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection | None:
        if self.path is None:
            return None
        if read_only and not os.path.exists(self.path):
            return None
        return _connect_with_retry(self.path, read_only, self.timeout)

    def load(self) -> tuple[pa.Table, pa.Table]:
        """The stored catalog and history; empty (with a warning) when they cannot be read."""
        empty = CATALOG_SCHEMA.empty_table(), HISTORY_SCHEMA.empty_table()
        try:
            con = self._open(read_only=True)
        except WarehouseError as exc:
            log.warning("starting from an empty catalog: %s", exc)
            return empty
        if con is None:
            return empty
        try:
            tables = {
                n for (n,) in con.execute("FROM duckdb_tables() SELECT table_name").fetchall()
            }
            if not {"file_catalog", "etag_history"} <= tables:
                return empty
            catalog = con.sql("FROM file_catalog").to_arrow_table().cast(CATALOG_SCHEMA)
            history = con.sql("FROM etag_history").to_arrow_table().cast(HISTORY_SCHEMA)
        except (duckdb.Error, pa.ArrowException) as exc:
            log.warning("starting from an empty catalog: cannot read %s: %s", self.path, exc)
            return empty
        finally:
            con.close()
        return catalog, history

    def save(self, catalog: pa.Table, new_history: pa.Table) -> None:
        """Store the catalog and add new history; bookkeeping only, so failures just warn."""
        if self.read_only or self.path is None:
            return
        try:
            con = self._open(read_only=False)
        except WarehouseError as exc:
            log.warning("not saving the warehouse catalog: %s", exc)
            return
        assert con is not None
        try:
            con.register("new_catalog", catalog)
            con.register("new_history", new_history)
            con.execute("BEGIN")
            con.execute("CREATE OR REPLACE TABLE file_catalog AS FROM new_catalog")
            con.execute("CREATE TABLE IF NOT EXISTS etag_history AS FROM new_history LIMIT 0")
            con.execute(
                "INSERT INTO etag_history SELECT * FROM new_history n WHERE NOT EXISTS "
                "(SELECT 1 FROM etag_history h WHERE h.dataset = n.dataset "
                "AND h.session = n.session AND h.source_etag = n.source_etag)"
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            log.warning("not saving the warehouse catalog to %s: %s", self.path, one_line(exc))
        finally:
            con.close()

    def update(self, files: dict[str, list[SessionFile]]) -> tuple[pa.Table, pa.Table]:
        """The catalog of `files` and the whole ETag history. Only file versions the stored
        catalog does not know are read; the database is saved when anything changed."""
        stored, history = self.load()
        known = {
            (r["dataset"], r["session"], r["path"], r["ino"], r["mtime_ns"], r["size"]): r
            for r in stored.to_pylist()
        }
        entries, todo = [], []
        for file in (f for fs in files.values() for f in fs):
            key = (file.dataset, file.session, file.path, *file.version)
            if key in known:
                entries.append(known[key])
            else:
                todo.append(file)
        with ThreadPoolExecutor(CATALOG_THREADS) as pool:
            described = list(pool.map(_describe, todo))
        catalog = pa.Table.from_pylist(entries + described, schema=CATALOG_SCHEMA)
        now = dt.datetime.now(dt.UTC)
        new_history = pa.Table.from_pylist(
            [
                {"dataset": e["dataset"], "session": e["session"], "source_etag": tag}
                | {"first_seen": now}
                for e in described
                for tag in e["etags"]
            ],
            schema=HISTORY_SCHEMA,
        )
        if described or len(stored) != len(catalog):
            self.save(catalog, new_history)
        return catalog, pa.concat_tables([history, new_history])
