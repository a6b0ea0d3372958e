"""`finance-pipeline ui` (make ui): `dagster dev` on the demo's instance and lake, with the
demo's sandbox market behind it unless POLYGON_API_KEY is set, so materializations and
backfills from the browser work on a fresh machine."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from finance_pipeline.calendar import NEW_YORK, recent_sessions, sessions_between
from finance_pipeline.demo import DEFAULT_SEED, DEFAULT_SESSIONS, DEFAULT_TICKERS, demo_sandbox
from finance_pipeline.local_instance import use_local_instance
from finance_pipeline.settings import env

if TYPE_CHECKING:
    from finance_pipeline.sandbox import Sandbox

# The sandbox market trades this many calendar days past the history, so sessions keep closing.
LIVE_DAYS = 7
SENSOR_INTERVAL_ENV = "FINANCE_PIPELINE_FLAT_FILE_SENSOR_INTERVAL"
LIVE_SENSOR_INTERVAL = 30


def run_ui(
    *,
    tickers: int = DEFAULT_TICKERS,
    sessions: int = DEFAULT_SESSIONS,
    seed: int = DEFAULT_SEED,
    port: int = 3000,
    say: Callable[[str], None] = print,
) -> int:
    """Serve the UI until Ctrl-C or SIGTERM; returns `dagster dev`'s exit code."""
    home, lake = use_local_instance()
    command = [sys.executable, "-m", "dagster", "dev", "-m", "finance_pipeline.definitions"]
    command += ["-p", str(port)]
    if env("POLYGON_API_KEY"):
        return run_until_stopped(command)
    days = recent_sessions(dt.datetime.now(dt.UTC), sessions)
    speed = sandbox_speed()
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


def sandbox_speed() -> float:
    """FINANCE_PIPELINE_SANDBOX_SPEED as a number above 0, or ValueError naming it."""
    raw = env("FINANCE_PIPELINE_SANDBOX_SPEED") or "1"
    try:
        speed = float(raw)
    except ValueError:
        speed = 0.0
    if not speed > 0:
        raise ValueError(f"FINANCE_PIPELINE_SANDBOX_SPEED must be a number above 0, got {raw!r}")
    return speed


def _minutes_until(sandbox: Sandbox, session: dt.date, speed: float) -> int:
    ahead = sandbox.publish_time("day_aggs_v1", session) - sandbox.now
    return max(0, round(ahead.total_seconds() / speed / 60))


def run_until_stopped(command: list[str]) -> int:
    """Run `command`; Ctrl-C or SIGTERM stop it too, so no `dagster dev` outlives us."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    child = subprocess.Popen(command)
    try:
        return child.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
