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

from finance_pipeline.calendar import recent_sessions
from finance_pipeline.demo import DEFAULT_SEED, DEFAULT_SESSIONS, DEFAULT_TICKERS, demo_sandbox
from finance_pipeline.local_instance import use_local_instance
from finance_pipeline.settings import env


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
    with demo_sandbox(tickers, seed, days, home, say) as sandbox:
        os.environ.update(sandbox.env())
        say(f"Dagster UI on http://127.0.0.1:{port} (instance {home}, lake {lake}); Ctrl-C stops")
        return run_until_stopped(command)


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
