"""`RestApi`: auth, rate limit, transport faults and dispatch of a routed request to its
endpoint; no sockets (`rest.server` feeds it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from finance_pipeline.sandbox.faults import Faults, TransportFault
from finance_pipeline.sandbox.rest import aggregates, corporate_actions, market_status, routes
from finance_pipeline.sandbox.rest.accounting import RestCounters, SlidingWindowLimiter
from finance_pipeline.sandbox.rest.market_view import MarketView
from finance_pipeline.sandbox.rest.protocol import (
    MSG_NO_KEY,
    MSG_UNKNOWN_KEY,
    HttpError,
    Query,
    Response,
    RestConfig,
    error_body,
    not_found,
)
from finance_pipeline.sandbox.rest.tickers import ticker_events, tickers

Endpoint = Callable[[MarketView, list[str], Query], Any]

ENDPOINTS: dict[str, Endpoint] = {
    routes.GROUPED_DAILY: aggregates.grouped_daily,
    routes.AGGS: aggregates.aggs,
    routes.SNAPSHOT: market_status.snapshot,
    routes.TICKERS: tickers,
    routes.TICKER_EVENTS: ticker_events,
    routes.V3_SPLITS: corporate_actions.v3_splits,
    routes.V3_DIVIDENDS: corporate_actions.v3_dividends,
    routes.V1_SPLITS: corporate_actions.v1_splits,
    routes.V1_DIVIDENDS: corporate_actions.v1_dividends,
    routes.MARKET_STATUS: market_status.market_status,
    routes.MARKET_HOLIDAYS: market_status.market_holidays,
}


class RestApi:
    """Every endpoint over one market view, with the limiter and counters of the server."""

    def __init__(
        self,
        market: Any,
        faults: Faults,
        clock: Callable[[], dt.datetime],
        config: RestConfig,
        ensure_flat_files: Callable[[str | None, str | None], None] | None = None,
    ) -> None:
        self.faults = faults
        self.config = config
        self.ensure_flat_files = ensure_flat_files
        self.limiter = SlidingWindowLimiter(config.rate_limit, config.window_seconds)
        self.counters = RestCounters()
        self.view = MarketView(market, faults, clock, config)

    @property
    def base_url(self) -> str:
        return self.view.base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self.view.base_url = url  # where next_url links point, set by the server once bound

    @staticmethod
    def route(path: str) -> tuple[str, list[str]]:
        return routes.route(path)

    @staticmethod
    def api_key_of(headers: dict[str, str], query: Query) -> str | None:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() or None
        return query.get("apiKey") or None

    def check_auth(self, key: str | None) -> str:
        if key is None:
            raise HttpError(401, error_body(MSG_NO_KEY))
        if key != self.config.api_key:
            raise HttpError(401, error_body(MSG_UNKNOWN_KEY))
        return key

    def dispatch(self, endpoint: str, params: list[str], query: Query) -> Response:
        handler = ENDPOINTS.get(endpoint)
        if handler is None or self.faults.is_removed(endpoint):
            raise not_found()
        return Response(200, handler(self.view, params, query))

    def transport_fault(self, endpoint: str) -> TransportFault | None:
        return self.faults.take_transport(endpoint)
