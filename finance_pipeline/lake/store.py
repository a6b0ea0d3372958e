"""`Lake`: one Parquet file per (dataset, session), on a local disk or in S3.

Where files live is `layout`'s; how rows are fitted to a dataset is `conform`'s; the bytes of
a file are `file_format`'s; how they are stored atomically is `local`'s or `s3`'s. Schemas come
from `schemas.DATASETS`; every write is conformed to its dataset's schema first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from finance_pipeline import schemas
from finance_pipeline.calendar import parse_session
from finance_pipeline.lake import conform as fit
from finance_pipeline.lake import layout
from finance_pipeline.lake.errors import LakeError, PartitionMissing, WriteResult, where
from finance_pipeline.lake.file_format import encode_file
from finance_pipeline.lake.local import LocalFiles
from finance_pipeline.lake.manifest import MANIFEST_DIR, ManifestEntry, entry_for, manifest_path
from finance_pipeline.lake.s3 import S3Objects
from finance_pipeline.lake.verify import NO_MANIFEST, REPAIR_HINT, BadFile, inspect
from finance_pipeline.schemas import SchemaError
from finance_pipeline.settings import LakeLocation, env


class Lake:
    """The lake at one root: write, read and list the files of its datasets."""

    def __init__(
        self,
        root: str,
        s3_client: Any = None,
        schemas_by_dataset: Mapping[str, pa.Schema] | None = None,
    ) -> None:
        """root: a directory or s3://bucket/prefix; s3_client: a boto3 S3 client for s3 roots.

        schemas_by_dataset defaults to `schemas.DATASETS`.
        """
        self.schemas = dict(schemas_by_dataset or schemas.DATASETS)
        self.storage: LocalFiles | S3Objects
        if layout.is_s3_root(root):
            bucket, prefix = layout.split_s3_root(root)
            if s3_client is None:
                raise ValueError(f"lake root {root!r} is on S3 but no S3 client was given")
            self.storage = S3Objects(s3_client, bucket, prefix)
        else:
            self.storage = LocalFiles(Path(root).expanduser().absolute())
        self.root = self.storage.root
        self.s3 = s3_client

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    @property
    def is_s3(self) -> bool:
        return isinstance(self.storage, S3Objects)

    @property
    def bucket(self) -> str | None:
        return self.storage.bucket if isinstance(self.storage, S3Objects) else None

    @property
    def prefix(self) -> str:
        return self.storage.prefix if isinstance(self.storage, S3Objects) else ""

    # ----------------------------------------------------------------------------- locations

    def schema(self, dataset: str) -> pa.Schema:
        try:
            return self.schemas[dataset]
        except KeyError:
            known = ", ".join(sorted(self.schemas))
            raise SchemaError(f"unknown dataset {dataset!r}; the lake knows: {known}") from None

    def dataset_uri(self, dataset: str) -> str:
        """The directory (or S3 prefix) holding every file of `dataset`."""
        return self.storage.uri(dataset)

    def uri(self, dataset: str, session: dt.date | None) -> str:
        """Where the file of (dataset, session) lives; session None = unpartitioned."""
        return self.storage.uri(layout.relative_path(dataset, session))

    def glob(self, dataset: str) -> str:
        """A glob over every session file of `dataset` (for DuckDB `read_parquet`)."""
        return self.storage.uri(layout.session_glob(dataset))

    def conform(self, dataset: str, data: pa.Table | pd.DataFrame) -> pa.Table:
        """`data` as a table of exactly the dataset's schema, or SchemaError naming the column
        (see `conform.conform`)."""
        return fit.conform(dataset, self.schema(dataset), data)

    # ----------------------------------------------------------------------------- writing

    def write(
        self,
        dataset: str,
        session: dt.date | None,
        table: pa.Table | pd.DataFrame,
        provenance: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Validate against the dataset schema (all rows of this session); write atomically.

        session None writes the unpartitioned file. `provenance` is kept as Parquet key-value
        metadata (keep it deterministic to keep the bytes deterministic).
        """
        if session is not None:
            session = parse_session(session)
        table = self.conform(dataset, table)
        if session is not None:
            fit.check_sessions(dataset, table, [session])
        return self._write_conformed(dataset, session, table, provenance)

    def write_sessions(
        self,
        dataset: str,
        table: pa.Table | pd.DataFrame,
        sessions: list[dt.date],
        provenance: Mapping[str, str] | None = None,
    ) -> list[WriteResult]:
        """Split `table` by its `session` column and write one file per session in `sessions`
        (an empty file for a session with no rows); rows outside `sessions` are an error.

        Everything is validated before the first file is written; each file is atomic on its own.
        """
        targets = sorted({parse_session(day) for day in sessions})
        if not targets:
            raise ValueError(f"{dataset}: no sessions given to write")
        table = self.conform(dataset, table)
        if fit.SESSION_COLUMN not in table.column_names:
            if len(targets) > 1:
                raise SchemaError(
                    f"{dataset}: has no {fit.SESSION_COLUMN!r} column, so its rows cannot be "
                    f"split across {len(targets)} sessions ({targets[0]}..{targets[-1]}); "
                    "write one session per run"
                )
            return [self._write_conformed(dataset, targets[0], table, provenance)]
        fit.check_sessions(dataset, table, targets)
        if len(targets) == 1:
            return [self._write_conformed(dataset, targets[0], table, provenance)]
        parts = fit.split_by_session(table, targets)
        return [
            self._write_conformed(dataset, day, part, provenance)
            for day, part in zip(targets, parts, strict=True)
        ]

    def _write_conformed(
        self,
        dataset: str,
        session: dt.date | None,
        table: pa.Table,
        provenance: Mapping[str, str] | None,
    ) -> WriteResult:
        encoded = encode_file(dataset, session, table, provenance)
        entry = entry_for(dataset, session, table, encoded)
        return self.put_file(dataset, session, encoded.body, entry)

    def put_file(
        self, dataset: str, session: dt.date | None, body: bytes, entry: ManifestEntry
    ) -> WriteResult:
        """Store a finished file and then its manifest entry, each atomically."""
        changed = self.storage.put(layout.relative_path(dataset, session), body)
        self.storage.put(manifest_path(dataset, session), entry.to_bytes())
        uri = self.uri(dataset, session)
        return WriteResult(dataset, session, uri, entry.rows, len(body), changed)

    # ----------------------------------------------------------------------------- verifying

    def manifest(self, dataset: str, session: dt.date | None) -> ManifestEntry | None:
        """The manifest entry of (dataset, session), None when it has none."""
        data = self.storage.get(manifest_path(dataset, session))
        return None if data is None else ManifestEntry.from_bytes(data)

    def stored_bytes(self, dataset: str, session: dt.date | None) -> bytes | None:
        return self.storage.get(layout.relative_path(dataset, session))

    def check(self, dataset: str, session: dt.date) -> BadFile | None:
        """Why the stored file of (dataset, session) must not be served, None when it is good
        (or absent): read whole, page checksums verified, sessions and manifest compared."""
        body = self.stored_bytes(dataset, session)
        if body is None:
            if self.manifest(dataset, session) is None:
                return None
            reason = "missing: its manifest entry exists but the file does not"
        else:
            _, problem = inspect(body, session, self.manifest(dataset, session))
            if problem is None:
                return None
            reason = problem
        return BadFile(dataset, session, self.uri(dataset, session), reason)

    def manifest_sessions(self, dataset: str) -> list[dt.date]:
        """Sessions of `dataset` with a manifest entry, oldest first."""
        days = []
        for relative in self.storage.listing(f"{MANIFEST_DIR}/{dataset}"):
            name = relative.rsplit("/", 1)[-1].removesuffix(".json")
            try:
                day = layout.session_of_dir(name)
            except ValueError:
                continue
            if day is not None:
                days.append(day)
        return sorted(days)

    # ----------------------------------------------------------------------------- reading

    def _verified(self, dataset: str, session: dt.date | None) -> pa.Table:
        """The stored table, checked like `check` does; LakeError naming the file and why when
        it must not be served, PartitionMissing when there is none. A file without a manifest
        entry (written before manifests) is served when it is otherwise intact."""
        body = self.stored_bytes(dataset, session)
        uri = self.uri(dataset, session)
        if body is None:
            raise PartitionMissing(
                f"{where(dataset, session)} is not in the lake (no {self.storage.noun} at {uri})"
            )
        table, problem = inspect(body, session, self.manifest(dataset, session))
        if table is None or (problem is not None and problem != NO_MANIFEST):
            raise LakeError(f"{uri}: {problem}; {REPAIR_HINT}")
        return table

    def _open(self, dataset: str, session: dt.date | None) -> Any:
        """The stored file opened for reading; PartitionMissing when there is none."""
        source = self.storage.open(layout.relative_path(dataset, session))
        if source is None:
            raise PartitionMissing(
                f"{where(dataset, session)} is not in the lake "
                f"(no {self.storage.noun} at {self.uri(dataset, session)})"
            )
        return source

    def _read_columns(
        self, dataset: str, session: dt.date | None, columns: list[str] | None
    ) -> pa.Table:
        schema = self.schema(dataset)
        uri = self.uri(dataset, session)
        table = self._verified(dataset, session)
        if columns is not None:
            missing = [name for name in columns if name not in table.column_names]
            if missing:
                raise SchemaError(f"{uri} has no column(s) {', '.join(missing)}")
            table = table.select(columns)
            schema = pa.schema([schema.field(name) for name in columns])
        if not table.schema.equals(schema):
            try:
                table = fit.conform(dataset, schema, table)
            except SchemaError as exc:
                raise SchemaError(f"{uri} does not match the current schema: {exc}") from None
        return table.replace_schema_metadata(None)

    def read(self, dataset: str, session: dt.date | None) -> pa.Table:
        """The stored table of (dataset, session); PartitionMissing when there is none."""
        return self._read_columns(dataset, session, None)

    def read_columns(self, dataset: str, session: dt.date | None, columns: list[str]) -> pa.Table:
        """`read` of only `columns` (the whole file is read and verified first)."""
        return self._read_columns(dataset, session, columns)

    def footer(self, dataset: str, session: dt.date | None) -> tuple[pa.Schema, int]:
        """(schema as written, rows) of the stored file; PartitionMissing when there is none.

        A local lake reads only the footer; an S3 lake fetches the object (no ranged reads)."""
        try:
            with self._open(dataset, session) as source, pq.ParquetFile(source) as parquet:
                return parquet.schema_arrow.remove_metadata(), int(parquet.metadata.num_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            uri = self.uri(dataset, session)
            raise LakeError(f"{uri} is not a readable Parquet file: {exc}") from None

    def read_many(self, dataset: str, sessions: Iterable[dt.date]) -> pa.Table:
        """Sessions' tables concatenated in session order; PartitionMissing names every gap."""
        ordered = sorted(set(sessions))
        tables, missing = [], []
        for session in ordered:
            try:
                tables.append(self.read(dataset, session))
            except PartitionMissing:
                missing.append(session)
        if missing:
            shown = ", ".join(str(day) for day in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise PartitionMissing(
                f"{dataset}: {len(missing)} of {len(ordered)} session(s) not in the lake at "
                f"{self.dataset_uri(dataset)}: {shown}{more}"
            )
        if not tables:
            return self.schema(dataset).empty_table()
        return pa.concat_tables(tables)

    def load_table(self, dataset: str, sessions: Iterable[dt.date] | None = None) -> pa.Table:
        """Arrow access: the given sessions, or every stored session when sessions is None."""
        return self.read_many(
            dataset, self.stored_sessions(dataset) if sessions is None else sessions
        )

    def exists(self, dataset: str, session: dt.date | None) -> bool:
        return self.storage.exists(layout.relative_path(dataset, session))

    def stored_sessions(self, dataset: str) -> list[dt.date]:
        """Sessions with a file for `dataset`, oldest first. Temporary files are ignored; a
        `session=` directory whose name is not a trading session is skipped with a warning."""
        return self.storage.stored_sessions(dataset)


def lake_from_env() -> Lake:
    """The lake of FINANCE_PIPELINE_LAKE; an s3:// root uses boto3's default credentials and
    FINANCE_PIPELINE_LAKE_ENDPOINT_URL when set."""
    location = LakeLocation.from_env()
    if not location.is_s3:
        return Lake(location.root)
    import boto3

    client = boto3.client("s3", endpoint_url=env("FINANCE_PIPELINE_LAKE_ENDPOINT_URL"))
    return Lake(location.root, s3_client=client)
