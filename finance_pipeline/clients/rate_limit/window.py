"""The sliding-window algorithm: at most L requests in any W-second window, as the server sees it.

Why not pyrate-limiter (4.5.1 was evaluated; it is not a dependency): its buckets (SQLite,
PostgreSQL, Redis) stamp an item with a time taken before the lock and, after a blocking wait,
advance that stamp by the *planned* sleep instead of re-reading the clock, and they only know
when a slot was taken, not when the request reached the server. Across processes both can let
the server's window see L+1. This module is the smallest thing that is correct for the
server's view:

- a slot is taken under the store's lock with the clock read under the lock;
- when the request finishes, the slot is stamped with its completion time, which is after the
  server saw the request; the slot counts until completion + W + margin;
- a slot whose request is still in flight counts until start + in_flight_ttl + W + margin
  (in_flight_ttl bounds how long a request can take to be sent; it also frees the slots of a
  process that died mid-request).

The store (`sqlite_store`, `postgres_store`) only keeps rows and a lock; the one clock is the
store's (`now()` under the lock): the machine's wall clock for SQLite, the database server's
clock for PostgreSQL, so workers on machines whose clocks drift still agree.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Protocol

# How long a waiting caller sleeps at most before looking again (in-flight slots may finish
# early and free room sooner than predicted).
_POLL_SECONDS = 0.25


class Slots(Protocol):
    """The slot rows of one limiter, inside one locked transaction of its store."""

    def now(self) -> float: ...

    def rows(self) -> list[tuple[int, float, float | None]]:
        """(id, started, finished or None) of every slot."""
        ...

    def delete(self, ids: list[int]) -> None: ...

    def insert(self, started: float) -> int: ...

    def finish(self, slot: int, finished: float) -> None: ...


class SlotStore(Protocol):
    """Where the slots live; `locked()` excludes every other user of the same limiter."""

    def locked(self) -> contextlib.AbstractContextManager[Slots]: ...


class RateLimiter:
    """At most `limit` requests in any `window_seconds` window, across every user of `store`.

    Use `with limiter.slot():` around exactly one HTTP request.
    """

    def __init__(
        self,
        limit: int,
        window_seconds: float,
        store: SlotStore,
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
        self.store = store
        # The store's lock excludes other processes; this one other threads of this process.
        self._thread_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"RateLimiter(limit={self.limit}, window_seconds={self.window_seconds}, "
            f"store={self.store!r})"
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Slots]:
        with self._thread_lock, self.store.locked() as slots:
            yield slots

    def _try_take(self) -> tuple[int | None, float]:
        """(slot id, 0) when taken; else (None, seconds until a slot should free up)."""
        hold = self.window_seconds + self.margin_seconds
        with self._locked() as slots:
            now = slots.now()
            frees: list[tuple[float, int]] = []
            for slot, started, finished in slots.rows():
                frees_at = (
                    finished if finished is not None else started + self.in_flight_ttl_seconds
                ) + hold
                frees.append((frees_at, slot))
            # Forget slots that no longer count under any rule.
            slots.delete([slot for frees_at, slot in frees if frees_at <= now])
            counting = sorted(frees_at for frees_at, _ in frees if frees_at > now)
            if len(counting) < self.limit:
                return slots.insert(now), 0.0
            # The slot that frees the (len - limit + 1)-th earliest makes room for one more.
            frees_at = counting[len(counting) - self.limit]
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
        with self._locked() as slots:
            slots.finish(slot, slots.now())

    @contextlib.contextmanager
    def slot(self) -> Iterator[float]:
        """Hold one slot around one request; yields the seconds spent waiting for it."""
        slot, waited = self.acquire()
        try:
            yield waited
        finally:
            self.release(slot)
