"""The machine-wide limiter's own properties (threads, state file, dead processes).

Two OS processes sharing one plan limit against the sandbox: test_rate_limit_sandbox.py.
"""

from __future__ import annotations

import threading
import time

from finance_pipeline.clients.rate_limit import RateLimiter, machine_limiter, state_path


def max_in_any_window(times: list[float], window: float) -> int:
    """The most events inside any half-open window [t, t + window) starting at an event."""
    times = sorted(times)
    return max(
        (sum(1 for u in times[i:] if u - t < window) for i, t in enumerate(times)), default=0
    )


def test_state_file_is_named_by_a_hash_not_the_key(tmp_path):
    key = "secret-key-abc123"
    path = state_path(tmp_path, "https://api.polygon.io", key)
    assert path.parent == tmp_path
    assert key not in path.name
    assert path != state_path(tmp_path, "https://api.polygon.io", "other-key")
    assert path != state_path(tmp_path, "http://127.0.0.1:9", key)
    assert path == state_path(tmp_path, "https://api.polygon.io/", key)


def test_limit_zero_means_no_limiter(tmp_path):
    assert machine_limiter(base_url="u", api_key="k", limit=0, limiter_dir=tmp_path) is None
    limiter = machine_limiter(base_url="u", api_key="k", limit=2, limiter_dir=tmp_path)
    assert isinstance(limiter, RateLimiter)
    assert limiter.path.exists()
    assert "k" not in repr(limiter).replace(str(tmp_path), "")


def test_threads_never_put_more_than_l_slots_in_a_window(tmp_path):
    limit, window = 3, 0.5
    limiter = RateLimiter(limit, window, tmp_path / "state.sqlite", margin_seconds=0.01)
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


def test_a_slot_of_a_dead_process_frees_after_its_ttl(tmp_path):
    window, ttl = 0.2, 0.3
    path = tmp_path / "state.sqlite"
    crashed = RateLimiter(1, window, path, margin_seconds=0.0, in_flight_ttl_seconds=ttl)
    _, _ = crashed.acquire()  # never released, as if the process died mid-request
    started = time.time()
    survivor = RateLimiter(1, window, path, margin_seconds=0.0, in_flight_ttl_seconds=ttl)
    slot, waited = survivor.acquire()
    survivor.release(slot)
    assert waited > 0
    assert time.time() - started >= ttl + window - 0.05
