"""`finance-pipeline ui` (make ui): `dagster dev` on the demo's instance and lake, with the
demo's sandbox market behind it unless POLYGON_API_KEY is set, so materializations and
backfills from the browser work on a fresh machine."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from finance_pipeline.calendar import NEW_YORK, recent_sessions, sessions_between
from finance_pipeline.configuration import check
from finance_pipeline.demo import DEFAULT_SEED, DEFAULT_SESSIONS, DEFAULT_TICKERS, demo_sandbox
from finance_pipeline.local_instance import use_local_instance
from finance_pipeline.settings import env

if TYPE_CHECKING:
    from finance_pipeline.sandbox import Sandbox

# The sandbox market trades this many calendar days past the history, so sessions keep closing.
LIVE_DAYS = 7
SENSOR_INTERVAL_ENV = "FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL"
LIVE_SENSOR_INTERVAL = 30
# How long `dagster dev` gets to stop its webserver and daemon before its group is killed.
STOP_SECONDS = 60


def run_ui(
    *,
    tickers: int = DEFAULT_TICKERS,
    sessions: int = DEFAULT_SESSIONS,
    seed: int = DEFAULT_SEED,
    port: int = 3000,
    say: Callable[[str], None] = print,
) -> int:
    """Serve the UI until Ctrl-C or SIGTERM; returns `dagster dev`'s exit code (0 when
    stopped). Every process started (sandbox, dagster dev, webserver, daemon) is stopped."""
    home, lake = use_local_instance()
    command = [sys.executable, "-m", "dagster", "dev", "-m", "finance_pipeline.definitions"]
    command += ["-p", str(port)]
    if env("POLYGON_API_KEY"):
        return run_until_stopped(command)
    days = recent_sessions(dt.datetime.now(dt.UTC), sessions)
    speed = float(check("FINANCE_PIPELINE_SANDBOX_SPEED"))  # checked at start: > 0
    end = sessions_between(days[-1], days[-1] + dt.timedelta(days=LIVE_DAYS))[-1]
    with demo_sandbox(tickers, seed, days, home, say, end=end) as sandbox:
        sandbox.run_clock(speed)
        os.environ.update(sandbox.env())
        # A living market: the flat-file sensor looks every 30 s unless told otherwise.
        os.environ.setdefault(SENSOR_INTERVAL_ENV, str(LIVE_SENSOR_INTERVAL))
        start = sandbox.now.astimezone(NEW_YORK)
        say(
            f"Sandbox clock runs {speed:g}x real time from {start:%Y-%m-%d %H:%M} New York: "
            f"{days[-1]}'s flat files publish at 11:00 New York (in about "
            f"{_minutes_until(sandbox, days[-1], speed)} min), then the flat-file sensor "
            "launches their runs"
        )
        say(f"Dagster UI on http://127.0.0.1:{port} (instance {home}, lake {lake}); Ctrl-C stops")
        return run_until_stopped(command)


def _minutes_until(sandbox: Sandbox, session: dt.date, speed: float) -> int:
    ahead = sandbox.publish_time("day_aggs_v1", session) - sandbox.now
    return max(0, round(ahead.total_seconds() / speed / 60))


def run_until_stopped(command: list[str]) -> int:
    """Run `command` (`dagster dev`) until it ends, or until Ctrl-C or SIGTERM (both raise
    KeyboardInterrupt), which stop it and everything it started (`stop_group`)."""
    # Its own process group: a terminal's Ctrl-C reaches only us, and we stop it exactly once
    # (a second SIGINT would cut short its own shutdown of the webserver and daemon).
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as the CLI does: Ctrl-C's path
    child = subprocess.Popen(command, process_group=0)
    try:
        return child.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_group(child)


def stop_group(child: subprocess.Popen) -> None:
    """One SIGINT, upon which `dagster dev` (or `dagster-daemon`) stops its webserver, daemon
    and code servers; then whatever is left of its process group is killed."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    # (ignored while stopping: a second Ctrl-C changes nothing)
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
