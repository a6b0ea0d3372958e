"""Coverage from the lake (the truth): per dataset the stored sessions, the gaps between the
first and the last, rows (Parquet footers), and for the curated datasets the raw source each
session came from (its `source` column)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow.compute as pc

from finance_pipeline import schemas
from finance_pipeline.calendar import sessions_between
from finance_pipeline.lake import Lake, LakeError
from finance_pipeline.registry import CURATED_ASSETS
from finance_pipeline.schemas import SchemaError
from finance_pipeline.status.model import DatasetCoverage


def _sources(lake: Lake, dataset: str, session: dt.date) -> list[str]:
    table = lake.read_columns(dataset, session, ["source"])
    return [s for s in pc.unique(table["source"]).to_pylist() if s]


def dataset_coverage(lake: Lake, dataset: str) -> DatasetCoverage:
    """Sessions, gaps, rows and (curated datasets) sources per session of one dataset."""
    stored = lake.stored_sessions(dataset)
    if not stored:
        return DatasetCoverage(dataset, 0, None, None, (), 0)
    have = set(stored)
    missing = tuple(d for d in sessions_between(stored[0], stored[-1]) if d not in have)
    rows = 0
    sources: Counter[str] = Counter()
    bad: list[str] = []
    for session in stored:
        try:
            rows += _footer_rows(lake, dataset, session)
            if dataset in CURATED_ASSETS:
                sources.update(_sources(lake, dataset, session) or ["(empty)"])
        except (LakeError, SchemaError) as exc:
            bad.append(str(exc))
    return DatasetCoverage(
        dataset,
        len(stored),
        stored[0],
        stored[-1],
        missing,
        rows,
        dict(sorted(sources.items())),
        tuple(bad),
    )


def _footer_rows(lake: Lake, dataset: str, session: dt.date) -> int:
    """Rows from the footer, LakeError when the file is unreadable or its size is not the one
    its manifest entry recorded (cheap checks: `verify` reads and hashes every byte)."""
    _, rows = lake.footer(dataset, session)
    entry = lake.manifest(dataset, session)
    if entry is not None and (
        entry.rows != rows or not _size_matches(lake, dataset, session, entry.bytes)
    ):
        raise LakeError(
            f"{lake.uri(dataset, session)}: differs from its manifest entry "
            f"({entry.rows:,} rows, {entry.bytes:,} bytes); run `finance-pipeline verify`"
        )
    return rows


def _size_matches(lake: Lake, dataset: str, session: dt.date, size: int) -> bool:
    if lake.is_s3:
        return True  # the footer read fetched the object; `verify` compares its bytes
    return Path(lake.uri(dataset, session)).stat().st_size == size


def lake_coverage(lake: Lake, datasets: Iterable[str] = schemas.DATASETS) -> list[DatasetCoverage]:
    """`dataset_coverage` of every dataset (default: every dataset the lake has a schema for)."""
    return [dataset_coverage(lake, dataset) for dataset in datasets]
