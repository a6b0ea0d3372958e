"""The sandbox clock: real time shifted by `advance`, frozen at a moment by `set`, or running
from a moment at some speed (`run`, what `make ui` uses so sessions close while you watch)."""

from __future__ import annotations

import datetime as dt
import threading
import time


class Clock:
    """Callable: the sandbox's current aware moment (thread-safe)."""

    def __init__(self, now: dt.datetime | None) -> None:
        self._lock = threading.Lock()
        self._fixed = aware(now) if now is not None else None
        self._offset = dt.timedelta(0)
        # (sandbox moment, time.monotonic() then, speed) while running from a moment
        self._running: tuple[dt.datetime, float, float] | None = None

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self._now()

    def _now(self) -> dt.datetime:
        if self._fixed is not None:
            return self._fixed
        if self._running is not None:
            start, started, speed = self._running
            return start + dt.timedelta(seconds=(time.monotonic() - started) * speed) + self._offset
        return dt.datetime.now(dt.UTC) + self._offset

    def set(self, moment: dt.datetime) -> None:
        with self._lock:
            self._fixed = aware(moment)
            self._running = None

    def advance(self, delta: dt.timedelta) -> None:
        with self._lock:
            if self._fixed is not None:
                self._fixed += delta
            else:
                self._offset += delta

    def run(self, speed: float) -> None:
        """From now on, move `speed` sandbox seconds per real second from the current moment."""
        if not speed > 0:
            raise ValueError(f"the sandbox clock speed must be above 0, got {speed!r}")
        with self._lock:
            start = self._now()
            self._fixed, self._offset = None, dt.timedelta(0)
            self._running = (start, time.monotonic(), float(speed))


def aware(moment: dt.datetime) -> dt.datetime:
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise ValueError(f"the sandbox clock needs an aware datetime, got {moment!r}")
    return moment
