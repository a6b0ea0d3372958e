"""The request limiter: one sliding-window algorithm (`window`) over two stores.

- `sqlite_store`: a SQLite file behind a file lock, shared by every process on one machine
  (the default);
- `postgres_store`: a table in PostgreSQL, shared by every worker that reaches the database
  (used when the Dagster instance is on PostgreSQL, or when asked for).
"""

from __future__ import annotations

from pathlib import Path

from finance_pipeline.clients.rate_limit.postgres_store import PostgresStore, RateLimiterStoreError
from finance_pipeline.clients.rate_limit.sqlite_store import (
    SqliteStore,
    bucket_name,
    default_limiter_dir,
    state_path,
)
from finance_pipeline.clients.rate_limit.window import RateLimiter, SlotStore

__all__ = [
    "PostgresStore",
    "RateLimiter",
    "RateLimiterStoreError",
    "SlotStore",
    "SqliteStore",
    "default_limiter_dir",
    "shared_limiter",
    "state_path",
]


def shared_limiter(
    *,
    base_url: str,
    api_key: str,
    limit: int,
    window_seconds: float = 60.0,
    limiter_dir: str | Path | None = None,
    postgres_dsn: str | None = None,
    in_flight_ttl_seconds: float = 60.0,
) -> RateLimiter | None:
    """The limiter every user of this (base URL, key) shares; None when limit is 0.

    With `postgres_dsn` the window lives in that database (every worker reaching it shares
    it); otherwise in a SQLite file under `limiter_dir` (every process on this machine)."""
    if limit <= 0:
        return None
    store: SlotStore = (
        PostgresStore(postgres_dsn, bucket_name(base_url, api_key))
        if postgres_dsn
        else SqliteStore(state_path(limiter_dir, base_url, api_key))
    )
    return RateLimiter(limit, window_seconds, store, in_flight_ttl_seconds=in_flight_ttl_seconds)
