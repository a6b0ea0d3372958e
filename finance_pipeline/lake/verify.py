"""Verification of stored partition files: against their manifest entry and their directory.

A file is good when it is a complete Parquet file whose pages all pass their checksums, every
row's `session` is the session of its directory, and its bytes are the ones its manifest entry
recorded when the pipeline wrote it. `inspect` says which of these fails first, in words.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from finance_pipeline.lake.conform import SESSION_COLUMN
from finance_pipeline.lake.manifest import ManifestEntry

NO_MANIFEST = "no manifest entry (not written by the pipeline, or written before manifests)"
REPAIR_HINT = "run `finance-pipeline verify --repair` (or backfill the session again)"


@dataclass(frozen=True)
class BadFile:
    """A stored partition that must not be served, and why."""

    dataset: str
    session: dt.date
    uri: str
    reason: str

    def text(self) -> str:
        return f"{self.uri}: {self.reason}"


def parse(body: bytes) -> pa.Table:
    """The table in `body`, every page's checksum verified; ArrowException/OSError when the
    bytes are not a complete, intact Parquet file."""
    return pq.read_table(pa.BufferReader(body), page_checksum_verification=True)


def _other_sessions(table: pa.Table, session: dt.date) -> list[dt.date]:
    if SESSION_COLUMN not in table.column_names or table.num_rows == 0:
        return []
    days = pc.unique(table[SESSION_COLUMN]).to_pylist()
    return sorted(day for day in days if day != session)


def inspect(
    body: bytes, session: dt.date | None, entry: ManifestEntry | None
) -> tuple[pa.Table | None, str | None]:
    """(table, None) for a good file; (table or None, why) for a bad one. A file without a
    manifest entry is parsed and checked, and reported as NO_MANIFEST."""
    if not body:
        return None, "zero-length file"
    try:
        table = parse(body)
    except (pa.ArrowException, OSError) as exc:
        return None, f"not a readable Parquet file ({' '.join(str(exc).split())})"
    if session is not None:
        others = _other_sessions(table, session)
        if others:
            shown = ", ".join(str(day) for day in others[:3])
            return table, f"holds rows of session {shown}, not of its directory's {session}"
    if entry is None:
        return table, NO_MANIFEST
    sha = hashlib.sha256(body).hexdigest()
    if sha != entry.sha256 or len(body) != entry.bytes:
        return table, (
            f"content differs from its manifest entry ({len(body):,} bytes, sha256 {sha[:12]}; "
            f"written as {entry.bytes:,} bytes, sha256 {entry.sha256[:12]})"
        )
    if table.num_rows != entry.rows:
        return table, f"{table.num_rows:,} rows, its manifest entry says {entry.rows:,}"
    return table, None
