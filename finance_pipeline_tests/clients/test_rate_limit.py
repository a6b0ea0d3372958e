"""The limiter's own properties (threads, dead processes), the same for both of its stores:
SQLite (one machine) and PostgreSQL (every worker).

Two OS processes sharing one plan limit against the sandbox: test_rate_limit_sandbox.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from finance_pipeline.clients.rate_limit import (
    PostgresStore,
    RateLimiter,
    RateLimiterStoreError,
    SlotStore,
    SqliteStore,
    shared_limiter,
    state_path,
)
from finance_pipeline_tests.servers import free_port, pg_dsn

STORES = ["sqlite", "postgres"]


def max_in_any_window(times: list[float], window: float) -> int:
    """The most events inside any half-open window [t, t + window) starting at an event."""
    times = sorted(times)
    return max(
        (sum(1 for u in times[i:] if u - t < window) for i, t in enumerate(times)), default=0
    )


@pytest.fixture(params=STORES)
def new_store(request, tmp_path) -> Callable[[], SlotStore]:
    """A factory of stores that all hold the same limiter's slots (as two processes would)."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "state.sqlite")
    dsn, bucket = pg_dsn(request.getfixturevalue("postgres")), uuid.uuid4().hex
    return lambda: PostgresStore(dsn, bucket)


def test_state_file_is_named_by_a_hash_not_the_key(tmp_path):
    key = "secret-key-abc123"
    path = state_path(tmp_path, "https://api.polygon.io", key)
    assert path.parent == tmp_path
    assert key not in path.name
    assert path != state_path(tmp_path, "https://api.polygon.io", "other-key")
    assert path != state_path(tmp_path, "http://127.0.0.1:9", key)
    assert path == state_path(tmp_path, "https://api.polygon.io/", key)


def test_limit_zero_means_no_limiter(tmp_path):
    assert shared_limiter(base_url="u", api_key="k", limit=0, limiter_dir=tmp_path) is None
    limiter = shared_limiter(base_url="u", api_key="k", limit=2, limiter_dir=tmp_path)
    assert isinstance(limiter, RateLimiter)
    assert isinstance(limiter.store, SqliteStore)
    assert limiter.store.path.exists()
    assert "k" not in repr(limiter).replace(str(tmp_path), "")


def test_a_postgres_limiter_names_neither_key_nor_password(postgres):
    dsn = pg_dsn(postgres)
    limiter = shared_limiter(base_url="u", api_key="secret-key-abc123", limit=2, postgres_dsn=dsn)
    assert isinstance(limiter, RateLimiter)
    assert isinstance(limiter.store, PostgresStore)
    shown = repr(limiter)
    assert "secret-key-abc123" not in shown
    assert postgres["DAGSTER_PG_PASSWORD"] not in shown
    assert postgres["DAGSTER_PG_DB"] in shown


def test_an_unreachable_postgres_store_is_one_clear_error():
    dsn = f"postgresql://dagster:pw-not-shown@127.0.0.1:{free_port()}/dagster"
    with pytest.raises(RateLimiterStoreError) as raised:
        PostgresStore(dsn, "bucket", connect_timeout_seconds=2)
    message = str(raised.value)
    assert "cannot connect to PostgreSQL at 127.0.0.1:" in message
    assert "pw-not-shown" not in message
    assert "\n" not in message


def test_threads_never_put_more_than_l_slots_in_a_window(new_store):
    limit, window = 3, 0.5
    limiter = RateLimiter(limit, window, new_store(), margin_seconds=0.01)
    taken: list[float] = []
    lock = threading.Lock()

    def worker():
        for _ in range(3):
            with limiter.slot(), lock:
                taken.append(time.time())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(taken) == 12
    assert max_in_any_window(taken, window) == limit


def test_two_limiters_on_one_store_share_the_window(new_store):
    # As two processes (or two workers on two machines) would: separate objects, one state.
    limit, window = 2, 0.5
    limiters = [RateLimiter(limit, window, new_store(), margin_seconds=0.01) for _ in range(2)]
    taken: list[float] = []
    lock = threading.Lock()

    def worker(limiter: RateLimiter):
        for _ in range(3):
            with limiter.slot(), lock:
                taken.append(time.time())

    threads = [threading.Thread(target=worker, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(taken) == 6
    assert max_in_any_window(taken, window) == limit


def test_a_slot_of_a_dead_process_frees_after_its_ttl(new_store):
    window, ttl = 0.2, 0.3
    crashed = RateLimiter(1, window, new_store(), margin_seconds=0.0, in_flight_ttl_seconds=ttl)
    _, _ = crashed.acquire()  # never released, as if the process died mid-request
    started = time.time()
    survivor = RateLimiter(1, window, new_store(), margin_seconds=0.0, in_flight_ttl_seconds=ttl)
    slot, waited = survivor.acquire()
    survivor.release(slot)
    assert waited > 0
    assert time.time() - started >= ttl + window - 0.05
