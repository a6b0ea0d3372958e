"""Manifest entries: what each stored partition file must be, recorded when it is written.

One small JSON file per partition, beside the datasets in a directory of its own:

    <root>/_manifests/<dataset>/session=YYYY-MM-DD.json

holding the file's sha256, rows, bytes, MD5 (= the ETag S3 gives a single PUT), the source it
came from and the vendor's ETag when the source had one. The entry is written right after the
file, each atomically: a crash between the two leaves a file that does not match its entry,
which `verify` reports and a plain re-run repairs (never a file served as verified when it is
not).
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.compute as pc

from finance_pipeline.lake.file_format import EncodedFile
from finance_pipeline.lake.layout import session_dir

MANIFEST_DIR = "_manifests"


@dataclass(frozen=True)
class ManifestEntry:
    dataset: str
    session: str | None  # ISO date; None for an unpartitioned dataset
    sha256: str
    rows: int
    bytes: int
    md5: str  # the S3 ETag of the object as written
    source: str  # the raw asset (or vendor source) the rows came from
    source_etag: str | None  # the vendor file's ETag, for flat files

    def to_bytes(self) -> builtins.bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: builtins.bytes) -> ManifestEntry:
        return cls(**json.loads(data))


def manifest_path(dataset: str, session: dt.date | None) -> str:
    """The entry of (dataset, session), relative to the lake root."""
    name = session_dir(session) if session is not None else "unpartitioned"
    return f"{MANIFEST_DIR}/{dataset}/{name}.json"


def _single(table: pa.Table, column: str) -> str | None:
    """The column's distinct non-null values joined by ',', None when it has none."""
    if column not in table.column_names or table.num_rows == 0:
        return None
    values = sorted(v for v in pc.unique(table[column]).to_pylist() if v is not None)
    return ",".join(str(v) for v in values) or None


def source_of(dataset: str, table: pa.Table) -> str | None:
    """The raw asset the rows came from (their `source` column), None when it is `dataset`."""
    source = _single(table, "source") or dataset
    return source if source != dataset else None


def entry_for(
    dataset: str, session: dt.date | None, table: pa.Table, encoded: EncodedFile
) -> ManifestEntry:
    """The manifest entry of `encoded`, the file written for `table`."""
    return ManifestEntry(
        dataset=dataset,
        session=session.isoformat() if session is not None else None,
        sha256=encoded.sha256,
        rows=table.num_rows,
        bytes=len(encoded.body),
        md5=encoded.md5,
        source=_single(table, "source") or dataset,
        source_etag=_single(table, "source_etag"),
    )
