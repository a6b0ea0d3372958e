"""The single-machine store: a SQLite file guarded by a file lock, one file per (URL, key)."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

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


def bucket_name(base_url: str, api_key: str) -> str:
    """One limiter per (base URL, key), named by a hash so the key is never stored."""
    return hashlib.sha256(f"{base_url.rstrip('/')}\n{api_key}".encode()).hexdigest()[:32]


def state_path(limiter_dir: str | Path | None, base_url: str, api_key: str) -> Path:
    """The state file for one (base URL, key)."""
    directory = Path(limiter_dir) if limiter_dir else default_limiter_dir()
    return directory / f"polygon-{bucket_name(base_url, api_key)}.sqlite"


class _SqliteSlots:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def now(self) -> float:
        # Wall-clock: the one clock every process on the machine shares.
        return time.time()

    def rows(self) -> list[tuple[int, float, float | None]]:
        return self._conn.execute("SELECT id, started, finished FROM slots").fetchall()

    def delete(self, ids: list[int]) -> None:
        self._conn.executemany("DELETE FROM slots WHERE id = ?", [(i,) for i in ids])

    def insert(self, started: float) -> int:
        cursor = self._conn.execute("INSERT INTO slots (started) VALUES (?)", (started,))
        assert cursor.lastrowid is not None  # an INSERT always sets it
        return cursor.lastrowid

    def finish(self, slot: int, finished: float) -> None:
        self._conn.execute("UPDATE slots SET finished = ? WHERE id = ?", (finished, slot))


class SqliteStore:
    """Slots in a SQLite file; a file lock excludes the other processes of the machine."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._file_lock = FileLock(str(self.path) + ".lock")
        with self._transaction() as conn:
            conn.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._file_lock:
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

    @contextlib.contextmanager
    def locked(self) -> Iterator[_SqliteSlots]:
        with self._transaction() as conn:
            yield _SqliteSlots(conn)
