"""Listing conventions of the reference endpoints: Polygon's filters (`col`, `col.gt/.gte/
.lt/.lte`, `col.any_of`), sorting, and cursor pages linked by `next_url`."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from finance_pipeline.sandbox.rest.protocol import Body, Query, bad_request, request_id

Render = Callable[[dict[str, Any]], dict[str, Any]]


def decode_cursor(query: Query) -> tuple[Query, int]:
    """(the query of the first page, offset) of a request; the query as sent without one."""
    cursor = query.get("cursor")
    clean = {k: v for k, v in query.items() if k not in ("cursor", "apiKey")}
    if not cursor:
        return clean, 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return dict(state["q"]), int(state["o"])
    except (ValueError, KeyError, TypeError):
        raise bad_request("cursor is not valid; use the next_url of a previous page") from None


def encode_cursor(query: Query, offset: int) -> str:
    """An opaque cursor holding the first page's query and where the next page starts."""
    state = {"q": query, "o": offset}
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode().rstrip("=")


def page(
    url: str, frame: pd.DataFrame, render: Render, query: Query, offset: int, limit: int
) -> Body:
    """One page of `frame` rendered row by row; `next_url` (`url` + cursor) while rows remain."""
    rows = frame.iloc[offset : offset + limit]
    results = [render(row) for row in rows.to_dict("records")]
    body: Body = {
        "results": results,
        "status": "OK",
        "request_id": request_id(),
        "count": len(results),
    }
    if offset + limit < len(frame):
        body["next_url"] = f"{url}?cursor={encode_cursor(query, offset + limit)}"
    return body


def present(value: Any) -> bool:
    if value is None:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def filter_rows(frame: pd.DataFrame, query: Query, column: str, kind: type) -> pd.DataFrame:
    """Polygon's `col`, `col.gt/.gte/.lt/.lte`, `col.any_of` filters (nulls never match)."""
    ops = {
        "": lambda s, v: s == v,
        ".gt": lambda s, v: s > v,
        ".gte": lambda s, v: s >= v,
        ".lt": lambda s, v: s < v,
        ".lte": lambda s, v: s <= v,
    }
    for suffix, op in ops.items():
        raw = query.get(column + suffix)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise bad_request(f"{column}{suffix} must be a {kind.__name__}, got {raw!r}") from None
        frame = frame[frame[column].notna()]
        frame = frame[op(frame[column].astype(kind), value).astype(bool)]
    any_of = query.get(column + ".any_of")
    if any_of:
        frame = frame[frame[column].astype(str).isin(any_of.split(","))]
    return frame


def sort_rows(frame: pd.DataFrame, keys: list[tuple[str, str]]) -> pd.DataFrame:
    columns, ascending = [], []
    for column, order in keys:
        if column not in frame.columns:
            raise bad_request(f"cannot sort by {column!r}")
        if order not in ("asc", "desc"):
            raise bad_request(f"order must be asc or desc, got {order!r}")
        if column not in columns:
            columns.append(column)
            ascending.append(order == "asc")
    return frame.sort_values(columns, ascending=ascending, kind="stable", na_position="last")


def v1_sort_keys(text: str | None, default: str) -> list[tuple[str, str]]:
    """`col.asc,col2.desc` (Massive's v1 sort syntax) to sort keys."""
    keys = []
    for part in (text or f"{default}.desc").split(","):
        column, _, order = part.strip().rpartition(".")
        if not column:
            column, order = order, "asc"
        keys.append((column, order))
    return [*keys, ("ticker", "asc")]


def v3_sort_keys(query: Query, default: str) -> list[tuple[str, str]]:
    """`sort=col&order=asc|desc` (v3 syntax; newest first by default), ties by ticker."""
    return [(query.get("sort") or default, query.get("order") or "desc"), ("ticker", "asc")]
