"""Where generated minute sessions are kept: Parquet files under `cache_dir` (keyed by model
version, seed, universe size and range) and an in-memory memo of the most recent sessions."""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pandas as pd

# Bump whenever generated numbers change, so stale minute caches are never reused.
MODEL_VERSION = 1
MINUTE_MEMO_ROWS = 3_000_000  # in-memory minute sessions: ~2 at 10,000 tickers, ~50 at 300


class MinuteCache:
    def __init__(self, cache_dir: Path | None, key: str) -> None:
        self.cache_dir = cache_dir
        self._key = key
        self._lock = threading.Lock()
        self._memo: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()

    def path(self, session: dt.date) -> Path | None:
        """Where the session's minute bars are cached (None without cache_dir)."""
        if self.cache_dir is None:
            return None
        name = f"minute-{session.isoformat()}.parquet"
        return self.cache_dir / f"v{MODEL_VERSION}" / self._key / name

    def get(self, session: dt.date, generate: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The session's frame from memory, else disk, else `generate()` (then stored)."""
        with self._lock:
            if session in self._memo:
                self._memo.move_to_end(session)
                return self._memo[session]
        path = self.path(session)
        frame = None
        if path is not None and path.exists():
            try:
                frame = pd.read_parquet(path)
            except (OSError, ValueError):
                frame = None  # a damaged cache file is regenerated, never trusted
        if frame is None:
            frame = generate()
            if path is not None:
                _write_parquet_atomically(frame, path)
        with self._lock:
            self._memo[session] = frame
            rows = sum(len(f) for f in self._memo.values())
            while len(self._memo) > 1 and rows > MINUTE_MEMO_ROWS:
                rows -= len(self._memo.popitem(last=False)[1])
        return frame


def _write_parquet_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write to a unique temporary name then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.to_parquet(tmp, index=False, row_group_size=100_000)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
