"""A sliding-window request limiter shared by every process on the machine.

L requests per W seconds, kept in a small SQLite table guarded by a file lock, so two Dagster
runs (or a run and the CLI) using the same key never send more than L together.

Why not pyrate-limiter (4.5.1 was evaluated; it is not a dependency): its SQLite bucket stamps
an item with a time taken before the lock and, after a blocking wait, advances that stamp by the
*planned* sleep instead of re-reading the clock, and it only knows when a slot was taken, not
when the request reached the server. Across processes both can let the server's window see L+1.
This module is the smallest thing that is correct for the server's view:

- a slot is taken under the lock with the clock read under the lock;
- when the request finishes, the slot is stamped with its completion time, which is after the
  server saw the request; the slot counts until completion + W + margin;
- a slot whose request is still in flight counts until start + in_flight_ttl + W + margin
  (in_flight_ttl bounds how long a request can take to be sent; it also frees the slots of a
  process that died mid-request).

Timestamps are wall-clock (`time.time()`): the one clock every process on the machine shares.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

# How long a waiting caller sleeps at most before looking again (in-flight slots may finish
# early and free room sooner than predicted).
_POLL_SECONDS = 0.25

_SCHEMA = """
CREATE TABLE IF NOT EXISTS slots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL
)
"""


def default_limiter_dir() -> Path:
    """A per-user directory under the system temp dir."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"finance_pipeline-ratelimit-{user}"


def state_path(limiter_dir: str | Path | None, base_url: str, api_key: str) -> Path:
    """The state file for one (base URL, key): named by a hash so the key never hits disk."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()[:32]
    directory = Path(limiter_dir) if limiter_dir else default_limiter_dir()
    return directory / f"polygon-{digest}.sqlite"


class RateLimiter:
    """At most `limit` requests in any `window_seconds` window, across processes.

    Use `with limiter.slot():` around exactly one HTTP request.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        path: str | Path,
        *,
        margin_seconds: float | None = None,
        in_flight_ttl_seconds: float = 60.0,
    ) -> None:
        if limit < 1:
            raise ValueError(f"rate limit must be at least 1 request per window, got {limit}")
        if window_seconds <= 0:
            raise ValueError(f"rate limit window must be positive, got {window_seconds}")
        self.limit = limit
        self.window_seconds = float(window_seconds)
        # Covers clock resolution and the server rounding its own window edges.
        self.margin_seconds = (
            margin_seconds if margin_seconds is not None else 0.1 + 0.01 * self.window_seconds
        )
        self.in_flight_ttl_seconds = in_flight_ttl_seconds
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The file lock excludes other processes; the thread lock other threads of this one.
        self._file_lock = FileLock(str(self.path) + ".lock")
        self._thread_lock = threading.Lock()
        with self._locked() as conn:
            conn.execute(_SCHEMA)

    def __repr__(self) -> str:
        return (
            f"RateLimiter(limit={self.limit}, window_seconds={self.window_seconds}, "
            f"path={str(self.path)!r})"
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._thread_lock, self._file_lock:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    def _hold(self) -> float:
        return self.window_seconds + self.margin_seconds

    def _try_take(self) -> tuple[int | None, float]:
        """(slot id, 0) when taken; else (None, seconds until a slot should free up)."""
        with self._locked() as conn:
            now = time.time()
            hold = self._hold()
            ttl = self.in_flight_ttl_seconds
            # Forget slots that no longer count under any rule.
            conn.execute(
                "DELETE FROM slots WHERE COALESCE(finished, started + ?) + ? <= ?",
                (ttl, hold, now),
            )
            rows = conn.execute(
                "SELECT COALESCE(finished, started + ?) + ? AS frees_at FROM slots "
                "ORDER BY frees_at",
                (ttl, hold),
            ).fetchall()
            if len(rows) < self.limit:
                cursor = conn.execute("INSERT INTO slots (started) VALUES (?)", (now,))
                assert cursor.lastrowid is not None  # an INSERT always sets it
                return cursor.lastrowid, 0.0
            # The slot that frees the (len - limit + 1)-th earliest makes room for one more.
            frees_at = rows[len(rows) - self.limit][0]
            return None, max(frees_at - now, 0.001)

    def acquire(self) -> tuple[int, float]:
        """Block until a slot is free; returns (slot id, seconds waited)."""
        began = time.monotonic()
        while True:
            slot, wait = self._try_take()
            if slot is not None:
                return slot, time.monotonic() - began
            time.sleep(min(wait, _POLL_SECONDS))

    def release(self, slot: int) -> None:
        """Stamp the slot with the time its request finished (successfully or not)."""
        with self._locked() as conn:
            conn.execute("UPDATE slots SET finished = ? WHERE id = ?", (time.time(), slot))

    @contextlib.contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one slot around one request; yields the seconds spent waiting for it."""
        slot, waited = self.acquire()
        try:
            yield waited
        finally:
            self.release(slot)


def machine_limiter(
    *,
    base_url: str,
    api_key: str,
    limit: int,
    window_seconds: float = 60.0,
    limiter_dir: str | Path | None = None,
    in_flight_ttl_seconds: float = 60.0,
) -> RateLimiter | None:
    """The limiter every process using this (base URL, key) shares; None when limit is 0."""
    if limit <= 0:
        return None
    return RateLimiter(
        limit,
        window_seconds,
        state_path(limiter_dir, base_url, api_key),
        in_flight_ttl_seconds=in_flight_ttl_seconds,
    )
