"""Shared by the lake tests (and the IO manager's): sample frames of any dataset, S3 buckets."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa

from finance_pipeline.lake.layout import FILE_NAME
from finance_pipeline.lake.manifest import MANIFEST_DIR
from finance_pipeline.schemas import DATASETS

S1, S2, S3_ = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)
SATURDAY = dt.date(2024, 3, 9)


def sample_frame(dataset: str, session: dt.date, rows: int = 4, seed: int = 0) -> pd.DataFrame:
    """A small valid frame for any dataset schema, with a null in every nullable column."""
    midnight = pd.Timestamp(session, tz="UTC")
    columns: dict[str, list] = {}
    for field in DATASETS[dataset]:
        t = field.type
        if field.name == "session":
            values: list = [session] * rows
        elif pa.types.is_string(t):
            values = [f"{field.name[:2].upper()}{seed}{i}" for i in range(rows)]
        elif pa.types.is_date(t):
            values = [session - dt.timedelta(days=i) for i in range(rows)]
        elif pa.types.is_timestamp(t):
            values = [midnight + pd.Timedelta(minutes=i + seed) for i in range(rows)]
        elif pa.types.is_floating(t):
            values = [100.0 + seed + i / 4 for i in range(rows)]
        elif pa.types.is_integer(t):
            values = [seed * 10 + i for i in range(rows)]
        elif pa.types.is_boolean(t):
            values = [i % 2 == 0 for i in range(rows)]
        else:  # pragma: no cover - a new type in schemas.py needs a generator here
            raise AssertionError(f"no sample values for {field}")
        if field.nullable and rows > 1:
            values[-1] = None
        columns[field.name] = values
    return pd.DataFrame(columns)


def new_bucket(client) -> str:
    name = f"lake-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


def litter(root: Path) -> list[Path]:
    """Files that are neither partition files nor manifest entries."""
    manifests = root / MANIFEST_DIR
    return [
        p
        for p in root.rglob("*")
        if p.is_file() and p.name != FILE_NAME and manifests not in p.parents
    ]
