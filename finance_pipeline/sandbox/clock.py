"""The sandbox clock: real time shifted by `advance`, or frozen at a moment by `set`."""

from __future__ import annotations

import datetime as dt
import threading


class Clock:
    """Callable: the sandbox's current aware moment (thread-safe)."""

    def __init__(self, now: dt.datetime | None) -> None:
        self._lock = threading.Lock()
        self._fixed = aware(now) if now is not None else None
        self._offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        with self._lock:
            if self._fixed is not None:
                return self._fixed
            return dt.datetime.now(dt.UTC) + self._offset

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._fixed = aware(moment)

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            if self._fixed is not None:
                self._fixed += delta
            else:
                self._offset += delta


def aware(moment: dt.datetime) -> dt.datetime:
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise ValueError(f"the sandbox clock needs an aware datetime, got {moment!r}")
    return moment
