"""Shared fixtures: the sandbox market (REST + S3 flat files on 127.0.0.1).

- `sandbox` (session scope): one paid-plan sandbox, 300 tickers, seed 7, sessions
  2024-11-01..2025-01-31 (Thanksgiving, half days 2024-11-29 and 2024-12-24, Christmas, the
  2025-01-09 closure), clock frozen at SANDBOX_NOW (every flat file of the range published).
  Shared by every test: treat it as read-only (no faults, no clock moves); read counters as
  differences or call `reset_counters()` first.
- `fresh_sandbox` (function scope): a factory, `fresh_sandbox(**overrides)` -> a started
  Sandbox with the same defaults, closed after the test. Use it for faults, clock moves,
  plans and rate limits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from finance_pipeline.sandbox import Sandbox

SANDBOX_START = dt.date(2024, 11, 1)
SANDBOX_END = dt.date(2025, 1, 31)
# Monday 2025-02-03 12:00 New York: after every flat file of the range was published.
SANDBOX_NOW = dt.datetime(2025, 2, 3, 17, 0, tzinfo=dt.UTC)
SANDBOX_DEFAULTS: dict[str, Any] = {
    "tickers": 300,
    "seed": 7,
    "start": SANDBOX_START,
    "end": SANDBOX_END,
    "now": SANDBOX_NOW,
}


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    cache = tmp_path_factory.mktemp("sandbox-market-cache")
    with Sandbox(**SANDBOX_DEFAULTS, cache_dir=cache) as sb:
        yield sb


@pytest.fixture
def fresh_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sandbox]]:
    opened: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        params = {**SANDBOX_DEFAULTS, **overrides}
        params.setdefault("cache_dir", tmp_path_factory.mktemp("fresh-sandbox-cache"))
        sb = Sandbox(**params).open()
        opened.append(sb)
        return sb

    yield make
    for sb in reversed(opened):
        sb.close()
