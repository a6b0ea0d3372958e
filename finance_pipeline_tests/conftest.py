"""Shared fixtures: the sandbox market (REST + S3 flat files on 127.0.0.1).

- `sandbox` (session scope): one paid-plan sandbox, 300 tickers, seed 7, sessions
  2024-11-01..2025-01-31 (Thanksgiving, half days 2024-11-29 and 2024-12-24, Christmas, the
  2025-01-09 closure), clock frozen at SANDBOX_NOW (every flat file of the range published).
  Shared by every test: treat it as read-only (no faults, no clock moves); read counters as
  differences or call `reset_counters()` first.
- `fresh_sandbox` (function scope): a factory, `fresh_sandbox(**overrides)` -> a started
  Sandbox with the same defaults, closed after the test. Use it for faults, clock moves,
  plans and rate limits.
- `postgres` (function scope): a fresh database on one PostgreSQL server per session;
  `redis_url` (session scope): one Redis server. Both from `servers.py`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest

from finance_pipeline.sandbox import Sandbox
from finance_pipeline_tests.servers import (
    pg_dsn,
    postgres_server,
    redis_server,
    skip_or_fail_without,
)

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


@pytest.fixture(scope="session")
def symbology_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The default sandbox with renames, a reused ticker and missing identifiers."""
    cache = tmp_path_factory.mktemp("symbology-market-cache")
    with Sandbox(**SANDBOX_DEFAULTS, cache_dir=cache, symbology=True) as sb:
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


@pytest.fixture(scope="session")
def postgres_server_env() -> Iterator[dict[str, str]]:
    """One PostgreSQL server for the session (servers.py); use `postgres` for a database."""
    with skip_or_fail_without(), postgres_server() as values:
        yield values


@pytest.fixture
def postgres(postgres_server_env: dict[str, str]) -> dict[str, str]:
    """A fresh, empty database on the session's server: the DAGSTER_PG_* values."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(pg_dsn(postgres_server_env))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()
    return {**postgres_server_env, "DAGSTER_PG_DB": name}


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """One Redis server for the session (servers.py): its redis:// URL."""
    with skip_or_fail_without(), redis_server() as url:
        yield url
