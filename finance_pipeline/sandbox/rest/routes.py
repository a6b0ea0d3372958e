"""Paths of the sandbox's REST API and the endpoint label each one is counted and faulted by.

Labels name the endpoint, never a dataset: the v3 and v1 corporate-action endpoints are
`v3_splits`/`v1_splits` and `v3_dividends`/`v1_dividends`; anything else is `unknown`.
"""

from __future__ import annotations

from urllib.parse import unquote

GROUPED_DAILY = "grouped_daily"
AGGS = "aggs"
SNAPSHOT = "snapshot"
TICKERS = "tickers"
TICKER_EVENTS = "ticker_events"
V3_SPLITS = "v3_splits"
V3_DIVIDENDS = "v3_dividends"
V1_SPLITS = "v1_splits"
V1_DIVIDENDS = "v1_dividends"
MARKET_STATUS = "market_status"
MARKET_HOLIDAYS = "market_holidays"
UNKNOWN = "unknown"

ENDPOINTS = (
    GROUPED_DAILY,
    AGGS,
    SNAPSHOT,
    TICKERS,
    TICKER_EVENTS,
    V3_SPLITS,
    V3_DIVIDENDS,
    V1_SPLITS,
    V1_DIVIDENDS,
    MARKET_STATUS,
    MARKET_HOLIDAYS,
    UNKNOWN,
)

_GROUPED_PREFIX = ("v2", "aggs", "grouped", "locale", "us", "market", "stocks")
_PATHS = {
    "v2/snapshot/locale/us/markets/stocks/tickers": SNAPSHOT,
    "v3/reference/tickers": TICKERS,
    "v3/reference/splits": V3_SPLITS,
    "v3/reference/dividends": V3_DIVIDENDS,
    "stocks/v1/splits": V1_SPLITS,
    "stocks/v1/dividends": V1_DIVIDENDS,
    "v1/marketstatus/now": MARKET_STATUS,
    "v1/marketstatus/upcoming": MARKET_HOLIDAYS,
}
# Matched segment by segment (after unquoting each), so "%2F" inside a segment never matches.
_FIXED_PATHS = {tuple(path.split("/")): label for path, label in _PATHS.items()}


def route(path: str) -> tuple[str, list[str]]:
    """(endpoint label, path parameters) of a request path; `unknown` for anything else."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if len(parts) == 8 and tuple(parts[:7]) == _GROUPED_PREFIX:
        return GROUPED_DAILY, parts[7:]
    if len(parts) == 9 and parts[:3] == ["v2", "aggs", "ticker"] and parts[4] == "range":
        return AGGS, [parts[3], *parts[5:]]
    if len(parts) == 5 and parts[:3] == ["vX", "reference", "tickers"] and parts[4] == "events":
        return TICKER_EVENTS, [parts[3]]
    return _FIXED_PATHS.get(tuple(parts), UNKNOWN), []
