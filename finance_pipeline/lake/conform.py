"""Rows made fit for the lake: cast to the dataset's schema, checked against the target
sessions, and split into one table per session file."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from finance_pipeline import schemas
from finance_pipeline.lake.errors import SessionMismatch
from finance_pipeline.lake.layout import SESSION_KEY
from finance_pipeline.schemas import SchemaError

# The column naming each row's session (the same name as the session directories' hive key).
SESSION_COLUMN = SESSION_KEY
_EPOCH = dt.date(1970, 1, 1)


def conform(dataset: str, schema: pa.Schema, data: pa.Table | pd.DataFrame) -> pa.Table:
    """`data` as a table of exactly `schema`, or SchemaError naming the column.

    Pandas frames go through `schemas.to_table`; Arrow tables are cast safely (no lossy casts).
    Columns not in the schema are dropped, as `to_table` does.
    """
    if isinstance(data, pd.DataFrame):
        return schemas.to_table(data, schema, dataset)
    if not isinstance(data, pa.Table):
        raise SchemaError(
            f"{dataset}: expected a pyarrow.Table or pandas.DataFrame, got {type(data).__name__}"
        )
    missing = [name for name in schema.names if name not in data.column_names]
    if missing:
        raise SchemaError(f"{dataset}: missing column(s) {', '.join(missing)}")
    columns = []
    for field in schema:
        column = data.column(field.name)
        if column.type != field.type:
            try:
                column = pc.cast(column, field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise SchemaError(
                    f"{dataset}: column {field.name!r} is {data.column(field.name).type}, "
                    f"not {field.type}, and cannot be cast safely: {exc}"
                ) from None
        if not field.nullable and column.null_count:
            raise SchemaError(f"{dataset}: column {field.name!r} has {column.null_count} null(s)")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def check_sessions(dataset: str, table: pa.Table, sessions: list[dt.date]) -> None:
    """SessionMismatch unless every row's session is one of `sessions` (sorted)."""
    if SESSION_COLUMN not in table.column_names or table.num_rows == 0:
        return
    allowed = pa.array(sessions, type=pa.date32())
    days = table[SESSION_COLUMN]
    outside = days.filter(pc.invert(pc.is_in(days, value_set=allowed)))
    if len(outside):
        found = sorted(pc.unique(outside).to_pylist())
        shown = ", ".join(str(day) for day in found[:5]) + (" ..." if len(found) > 5 else "")
        target = (
            f"session {sessions[0]}"
            if len(sessions) == 1
            else f"sessions {sessions[0]}..{sessions[-1]} ({len(sessions)} sessions)"
        )
        raise SessionMismatch(
            f"{dataset}: {len(outside)} row(s) belong to session(s) {shown}, "
            f"outside the target {target}; nothing was written"
        )


def split_by_session(table: pa.Table, sessions: list[dt.date]) -> list[pa.Table]:
    """One slice of `table` per session of `sessions` (sorted; empty for a session without
    rows), each keeping its rows' original order. Rows were checked to be of `sessions`."""
    days = table[SESSION_COLUMN].combine_chunks().cast(pa.int32()).to_numpy()
    ordered = table
    if len(days) > 1 and (days[1:] < days[:-1]).any():
        # A stable sort keeps each session's rows in their original order, so a range write
        # produces the same bytes as writing each session on its own.
        order = np.argsort(days, kind="stable")
        ordered, days = table.take(order), days[order]
    wanted = np.array([(day - _EPOCH).days for day in sessions], dtype=np.int32)
    starts = np.searchsorted(days, wanted, side="left")
    ends = np.searchsorted(days, wanted, side="right")
    return [ordered.slice(int(lo), int(hi - lo)) for lo, hi in zip(starts, ends, strict=True)]
