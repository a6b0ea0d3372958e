"""Reference tickers (`/v3/reference/tickers`): point-in-time listings with Polygon's filters,
search, sort and cursor pages."""

from __future__ import annotations

from typing import Any

from finance_pipeline.sandbox.rest.market_view import MarketView
from finance_pipeline.sandbox.rest.paging import (
    decode_cursor,
    filter_rows,
    page,
    present,
    sort_rows,
)
from finance_pipeline.sandbox.rest.protocol import (
    Body,
    Query,
    bad_request,
    not_found,
    parse_date,
    query_bool,
    query_int,
    request_id,
)

TICKER_FIELDS = (
    "ticker",
    "name",
    "market",
    "locale",
    "primary_exchange",
    "type",
    "currency_name",
    "cik",
    "composite_figi",
    "share_class_figi",
    "last_updated_utc",
    "delisted_utc",
)
_EXACT_FILTERS = (
    ("market", "market"),
    ("type", "type"),
    ("exchange", "primary_exchange"),
    ("cik", "cik"),
)


def tickers(view: MarketView, params: list[str], query: Query) -> Body:
    query, offset = decode_cursor(query)
    limit = query_int(query, "limit", 100, 1, 1000)
    today = view.today()
    day = parse_date(query["date"], "date") if query.get("date") else today
    active = query_bool(query, "active", True)
    frame = view.market.tickers_as_of(day, active)
    unlisted = view.faults.unlisted()
    if unlisted:
        frame = frame[~frame["ticker"].isin(unlisted)]
    frame = frame.assign(last_updated_utc=f"{day.isoformat()}T00:00:00Z")
    for name, column in _EXACT_FILTERS:
        if query.get(name):
            frame = frame[frame[column].astype(str) == query[name]]
    if query.get("search"):
        needle = query["search"].lower()
        hit = frame["ticker"].str.lower().str.contains(needle, regex=False) | frame[
            "name"
        ].str.lower().str.contains(needle, regex=False)
        frame = frame[hit]
    frame = filter_rows(frame, query, "ticker", str)
    sort = query.get("sort") or "ticker"
    if sort not in TICKER_FIELDS:
        raise bad_request(f"sort must be one of {', '.join(TICKER_FIELDS)}, got {sort!r}")
    order = query.get("order") or "asc"
    frame = sort_rows(frame, [(sort, order), ("ticker", order)])
    fields = [f for f in TICKER_FIELDS if f != "delisted_utc"]

    def render(row: dict[str, Any]) -> dict[str, Any]:
        out = {f: row[f] for f in fields if present(row.get(f))}
        out["active"] = bool(row["active"])
        if present(row.get("delisted_utc")):
            out["delisted_utc"] = row["delisted_utc"]
        return out

    cursor_query = {**query, "date": day.isoformat()}
    url = f"{view.base_url}/v3/reference/tickers"
    return page(url, frame, render, cursor_query, offset, limit)


def ticker_events(view: MarketView, params: list[str], query: Query) -> Body:
    """`/vX/reference/tickers/{id}/events`: the ticker changes of a ticker or composite FIGI
    (only `ticker_change` exists, as on the vendor)."""
    types = query.get("types")
    if types and types != "ticker_change":
        raise bad_request(f"types must be ticker_change, got {types!r}")
    results = view.market.ticker_events(params[0], view.today())
    if results is None:
        raise not_found()
    return {"status": "OK", "request_id": request_id(), "results": results}
