"""`Warehouse`: the facade that mirrors, catalogs, views and compacts a lake (see the package)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.lake.layout import COMPACT_DIR, DATABASE_FILE, is_s3_root
from finance_pipeline.settings import env
from finance_pipeline.warehouse.catalog import StateStore, scan_lake
from finance_pipeline.warehouse.common import WarehouseError, one_line
from finance_pipeline.warehouse.compaction import CompactionResult, compact_dataset, compacted_files
from finance_pipeline.warehouse.readonly import RefusedQuery, lock_down, reading_statement
from finance_pipeline.warehouse.s3_mirror import S3Mirror, default_cache_dir, make_s3_client
from finance_pipeline.warehouse.securities import install_security_views
from finance_pipeline.warehouse.views import Snapshot, install_views


class Warehouse:
    """DuckDB views over the lake (see the package docstring); a context manager.

    lake_root: a directory, `s3://bucket/prefix`, or a `finance_pipeline.lake.Lake` (its root
    and S3 client are used). database: the bookkeeping database file; default
    `<lake_root>/warehouse.duckdb` (S3 lakes: in the cache directory); ":memory:" keeps
    nothing. read_only: never write the database or compacted files.
    """

    def __init__(
        self,
        lake_root: str | Any,
        database: str | None = None,
        s3_endpoint_url: str | None = None,
        *,
        s3_client: Any = None,
        cache_dir: str | Path | None = None,
        read_only: bool = False,
        datasets: Iterable[str] | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        if not isinstance(lake_root, str):  # a Lake
            s3_client = s3_client or getattr(lake_root, "s3", None)
            lake_root = str(lake_root.root)
        self.datasets = list(datasets) if datasets is not None else list(schemas.DATASETS)
        unknown = [d for d in self.datasets if d not in schemas.DATASETS]
        if unknown:
            raise WarehouseError(f"unknown dataset(s) {', '.join(unknown)}")
        self.read_only = read_only
        self.lock_timeout = lock_timeout
        self._connections: list[duckdb.DuckDBPyConnection] = []
        self._con: duckdb.DuckDBPyConnection | None = None
        self._mirror: S3Mirror | None = None
        if is_s3_root(lake_root):
            self.lake_root = lake_root.rstrip("/")
            endpoint = s3_endpoint_url or env("FINANCE_PIPELINE_LAKE_ENDPOINT_URL")
            cache = Path(cache_dir) if cache_dir else default_cache_dir(self.lake_root, endpoint)
            if s3_client is None:
                s3_client = make_s3_client(endpoint)
            self._mirror = S3Mirror(self.lake_root, s3_client, cache / "lake", self.datasets)
            self.local_root = cache / "lake"
            self.compact_root = cache / COMPACT_DIR
            default_db = cache / DATABASE_FILE
        else:
            root = Path(lake_root).expanduser().absolute()
            if not root.exists():
                raise WarehouseError(f"lake root {root} does not exist")
            if not root.is_dir():
                raise WarehouseError(f"lake root {root} is not a directory")
            if not os.access(root, os.R_OK | os.X_OK):
                raise WarehouseError(f"lake root {root} is not readable (permission denied)")
            self.lake_root = str(root)
            self.local_root = root
            self.compact_root = Path(cache_dir) / COMPACT_DIR if cache_dir else root / COMPACT_DIR
            default_db = root / DATABASE_FILE
        if database == ":memory:":
            self.database: str | None = None
        else:
            self.database = str(database or default_db)
        self._state = StateStore(self.database, read_only, lock_timeout)

    def __repr__(self) -> str:
        return f"Warehouse({self.lake_root!r})"

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection this warehouse opened."""
        for con in self._connections:
            with contextlib.suppress(duckdb.Error):
                con.close()
        self._connections.clear()
        self._con = None

    # ----------------------------------------------------------------------------- snapshot

    def _sync(self) -> Path:
        if self._mirror is not None:
            if self.database:
                Path(self.database).parent.mkdir(parents=True, exist_ok=True)
            return self._mirror.sync()
        if not self.local_root.is_dir():
            raise WarehouseError(f"lake root {self.local_root} does not exist any more")
        return self.local_root

    def _snapshot(self, state: StateStore) -> Snapshot:
        root = self._sync()
        files = scan_lake(root, self.datasets)
        catalog, history = state.update(files)
        compacted = {d: compacted_files(self.compact_root, d) for d in self.datasets}
        return Snapshot(root, files, catalog, history, compacted)

    # ----------------------------------------------------------------------------- reading

    def connect(self, read_only: bool | None = None) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with every view created over the lake as it is now.

        read_only (default: the warehouse's) only governs the bookkeeping database; the lake is
        never written by reading. The connection is closed with the warehouse.
        """
        state = self._state
        if read_only is not None and read_only != self.read_only:
            state = StateStore(self.database, read_only, self.lock_timeout)
        snap = self._snapshot(state)
        con = duckdb.connect()
        try:
            install_views(con, snap, self.datasets)
            install_security_views(con, self.datasets)
        except duckdb.Error as exc:
            con.close()
            raise WarehouseError(f"cannot create the warehouse views: {one_line(exc)}") from None
        self._connections.append(con)
        return con

    def refresh(self) -> None:
        """Re-scan the lake and re-create the views of the connection `query` uses."""
        if self._con is not None:
            self._connections.remove(self._con)
            self._con.close()
        self._con = self.connect()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The connection `query` uses (created on first use)."""
        if self._con is None:
            self._con = self.connect()
        return self._con

    def query(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run SQL on the views; WarehouseError with DuckDB's one-line message when it fails."""
        return _run(self.connection, sql, params)

    def read(self, sql: str) -> pa.Table:
        """Run SQL a person wrote: one reading statement (`readonly.reading_statement`, else
        `RefusedQuery`), on a fresh connection that opens no file outside the lake."""
        statement = reading_statement(sql)
        con = self.connect()
        lock_down(con, (self.local_root, self.compact_root))
        return _run(con, statement)

    def query_df(self, sql: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        """`query` as a pandas DataFrame."""
        return self.query(sql, params).to_pandas()

    def views(self) -> list[str]:
        """Names of the views the connections have."""
        rows = self.connection.execute(
            "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal ORDER BY 1"
        ).fetchall()
        return [name for (name,) in rows]

    # ----------------------------------------------------------------------------- compaction

    def compact(self, dataset: str, *, force: bool = False) -> CompactionResult:
        """Write the periods of `dataset` whose session files changed since they were compacted
        (every period with `force`) into compacted files; refreshes `query`'s views."""
        if dataset not in self.datasets:
            known = ", ".join(self.datasets)
            raise WarehouseError(f"cannot compact unknown dataset {dataset!r}; known: {known}")
        if self.read_only:
            raise WarehouseError(f"cannot compact {dataset}: the warehouse is read-only")
        started = time.perf_counter()
        root = self._sync()
        result = compact_dataset(
            root, self.compact_root, dataset, force=force, lock_timeout=self.lock_timeout
        )
        if self._con is not None and result.periods:
            self.refresh()
        # seconds: the whole call, S3 mirroring and the view refresh included.
        return dataclasses.replace(result, seconds=time.perf_counter() - started)

    def compact_all(self, *, force: bool = False) -> list[CompactionResult]:
        return [self.compact(dataset, force=force) for dataset in self.datasets]


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> pa.Table:
    try:
        relation = con.sql(sql, params=params)
        if relation is None:  # a statement without a result
            return pa.table({})
        return relation.to_arrow_table()
    except duckdb.PermissionException as exc:  # only `read`'s connections forbid anything
        raise RefusedQuery(
            f"query refused: {one_line(exc)} (query opens only the lake's own files)"
        ) from None
    except duckdb.Error as exc:
        raise WarehouseError(f"query failed: {one_line(exc)}") from None
