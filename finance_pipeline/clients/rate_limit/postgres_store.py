"""The shared store: one table in PostgreSQL (the shared Dagster instance's database), so every
worker on every machine draws from the same window.

Each operation is one transaction holding a transaction-scoped advisory lock keyed by the
limiter's bucket, so users of one (URL, key) exclude each other and other buckets do not wait.
The clock is the database server's (`clock_timestamp()` read under the lock).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg2

TABLE = "finance_pipeline_rate_limit_slots"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id BIGSERIAL PRIMARY KEY,
    bucket TEXT NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS {TABLE}_bucket ON {TABLE} (bucket)
"""


class RateLimiterStoreError(RuntimeError):
    """The limiter's PostgreSQL store cannot be reached (the message names no password)."""


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class _PostgresSlots:
    def __init__(self, cursor: psycopg2.extensions.cursor, bucket: str) -> None:
        self._cur = cursor
        self._bucket = bucket

    def now(self) -> float:
        self._cur.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")
        return float(self._cur.fetchone()[0])

    def rows(self) -> list[tuple[int, float, float | None]]:
        self._cur.execute(
            f"SELECT id, started, finished FROM {TABLE} WHERE bucket = %s", (self._bucket,)
        )
        return list(self._cur.fetchall())

    def delete(self, ids: list[int]) -> None:
        if ids:
            self._cur.execute(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", (ids,))

    def insert(self, started: float) -> int:
        self._cur.execute(
            f"INSERT INTO {TABLE} (bucket, started) VALUES (%s, %s) RETURNING id",
            (self._bucket, started),
        )
        return int(self._cur.fetchone()[0])

    def finish(self, slot: int, finished: float) -> None:
        self._cur.execute(f"UPDATE {TABLE} SET finished = %s WHERE id = %s", (finished, slot))


class PostgresStore:
    """Slots of `bucket` in PostgreSQL at `dsn` (a libpq URI: postgresql://user:pw@host/db)."""

    def __init__(self, dsn: str, bucket: str, *, connect_timeout_seconds: int = 10) -> None:
        self._dsn = dsn
        self.bucket = bucket
        self._connect_timeout = connect_timeout_seconds
        self._lock = _lock_key(f"{TABLE}:{bucket}")
        parts = urlsplit(dsn)
        self.where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        with self._transaction() as cur:
            # Serialized: two workers creating the table at once would otherwise collide.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(TABLE),))
            cur.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r}, bucket={self.bucket!r})"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        try:
            conn = psycopg2.connect(self._dsn, connect_timeout=self._connect_timeout)
        except psycopg2.OperationalError as error:
            first = (str(error).strip().splitlines() or ["no reason given"])[0]
            raise RateLimiterStoreError(
                f"rate limiter store: cannot connect to PostgreSQL at {self.where}: {first}"
            ) from None
        try:
            with conn, conn.cursor() as cur:  # commits, or rolls back on an exception
                yield cur
        finally:
            conn.close()

    @contextlib.contextmanager
    def locked(self) -> Iterator[_PostgresSlots]:
        with self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock,))
            yield _PostgresSlots(cur, self.bucket)
