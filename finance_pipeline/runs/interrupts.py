"""Stopping in-process runs on Ctrl-C or SIGTERM (`runs.execute`), and keeping the children
Dagster starts during a run from printing tracebacks when a terminal's Ctrl-C reaches them."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_requests() -> Iterator[Callable[[], bool]]:
    """A function telling whether SIGINT or SIGTERM arrived since entering. While a run
    executes Dagster handles both signals itself (it fails the step in progress, then returns)
    and forgets them, so every signal is also noted on a wakeup pipe, whoever handles it;
    between runs they are only noted, so the loop decides what to do."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
    old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    stopped = False

    def requested() -> bool:
        nonlocal stopped
        with contextlib.suppress(BlockingIOError):
            stopped = stopped or bool(set(os.read(read, 1024)) & set(_STOP_SIGNALS))
        return stopped

    try:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, lambda *_: None)  # noted on the pipe, nothing raised
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(old_fd)
        os.close(read)
        os.close(write)


@contextlib.contextmanager
def quiet_child_stderr() -> Iterator[None]:
    """While inside, processes this one starts get /dev/null as stderr, and `sys.stderr` (a new
    object: enter this before handing it to anything) still writes to the real one.

    Dagster mirrors each step's output with a `tail` and a Python watcher process in our process
    group; a terminal's Ctrl-C reaches them too, and the watcher prints a KeyboardInterrupt
    traceback. Their stderr carries nothing else."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests): nothing to do
        yield
        return
    if fd != 2:
        yield
        return
    original = sys.stderr
    original.flush()
    real = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = open(  # noqa: SIM115  # closed below
        real, "w", buffering=1, encoding=original.encoding, errors=original.errors
    )
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)
        sys.stderr.close()  # closes `real`
        sys.stderr = original
