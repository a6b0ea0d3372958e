"""What the REST server counts (requests per endpoint and status, the request log) and the
sliding-window rate limiter it admits requests with."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import NamedTuple


class RequestRecord(NamedTuple):
    """One REST request: time.monotonic() when the rate limiter admitted or refused it (the
    arrival time for requests failing auth), endpoint name, HTTP status sent (0 when a hung
    request was dropped without an answer) and the path (no query string)."""

    monotonic: float
    endpoint: str
    status: int
    path: str


class RestCounters:
    """Thread-safe per-endpoint and per-status counts plus the request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_endpoint: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.log: list[RequestRecord] = []

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self.by_endpoint[record.endpoint] += 1
            self.by_status[record.status] += 1
            self.log.append(record)

    def snapshot(self) -> tuple[Counter[str], Counter[int], tuple[RequestRecord, ...]]:
        with self._lock:
            return Counter(self.by_endpoint), Counter(self.by_status), tuple(self.log)

    def reset(self) -> None:
        with self._lock:
            self.by_endpoint.clear()
            self.by_status.clear()
            self.log.clear()


class SlidingWindowLimiter:
    """At most `limit` admitted requests per key in any window of `window_seconds`."""

    def __init__(self, limit: int | None, window_seconds: float) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"rate limit must be >= 1 request per window, got {limit}")
        if window_seconds <= 0:
            raise ValueError(f"rate limit window must be > 0 seconds, got {window_seconds}")
        self.limit = limit
        self.window = float(window_seconds)
        self._lock = threading.Lock()
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, key: str) -> tuple[float, float | None]:
        """(time.monotonic() of the decision, None if admitted else seconds until a slot
        frees). The time is read under the lock, so admitted stamps are in order."""
        if self.limit is None:
            return time.monotonic(), None
        with self._lock:
            now = time.monotonic()
            times = self._admitted.setdefault(key, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return now, max(0.0, times[0] + self.window - now)
            times.append(now)
            return now, None

    def reset(self) -> None:
        with self._lock:
            self._admitted.clear()
