"""Per-endpoint accounting of Polygon REST requests: what was sent, retried, rate-limited.

Every attempt (pages and retries included) is counted under the endpoint label of its URL.
Labels name the REST endpoint, never a dataset or asset, and are the sandbox's labels
(`sandbox.rest.routes`): the corporate-action endpoints are `v3_splits`/`v1_splits` and
`v3_dividends`/`v1_dividends`.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from urllib.parse import urlsplit

ENDPOINTS = (
    "grouped_daily",
    "aggs",
    "tickers",
    "v3_splits",
    "v3_dividends",
    "v1_splits",
    "v1_dividends",
    "snapshot",
    "market_status",
)
_ENDPOINT_PATTERNS = (
    ("grouped_daily", re.compile(r"/v2/aggs/grouped/")),
    ("aggs", re.compile(r"/v2/aggs/ticker/")),
    ("tickers", re.compile(r"/v3/reference/tickers")),
    ("v3_splits", re.compile(r"/v3/reference/splits")),
    ("v3_dividends", re.compile(r"/v3/reference/dividends")),
    ("v1_splits", re.compile(r"/stocks/v1/splits")),
    ("v1_dividends", re.compile(r"/stocks/v1/dividends")),
    ("snapshot", re.compile(r"/v2/snapshot/")),
    ("market_status", re.compile(r"/v1/marketstatus/")),
)


def endpoint_name(url: str) -> str:
    """The accounting label of a request URL (one of ENDPOINTS, else "other")."""
    path = urlsplit(url).path
    for name, pattern in _ENDPOINT_PATTERNS:
        if pattern.search(path):
            return name
    return "other"


class Usage:
    """Thread-safe counters, keyed by endpoint label.

    calls: HTTP requests sent; retries: attempts that were retries; rate_limited: 429s seen;
    limiter_wait_seconds: time spent waiting on the rate limiter for a slot.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.limiter_wait_seconds = 0.0
        self._lock = threading.Lock()

    def attempt(self, endpoint: str, waited: float) -> None:
        """One request about to be sent, after `waited` seconds for a limiter slot."""
        with self._lock:
            self.limiter_wait_seconds += waited
            self.calls[endpoint] += 1

    def retry(self, endpoint: str) -> None:
        with self._lock:
            self.retries[endpoint] += 1

    def rate_limited_once(self, endpoint: str) -> None:
        with self._lock:
            self.rate_limited[endpoint] += 1

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def metrics(self) -> dict[str, float]:
        """Numeric totals for materialization metadata."""
        return {
            "api_calls": self.total_calls,
            "api_retries": sum(self.retries.values()),
            "api_429s": sum(self.rate_limited.values()),
            "rate_limit_wait_seconds": round(self.limiter_wait_seconds, 3),
        }
