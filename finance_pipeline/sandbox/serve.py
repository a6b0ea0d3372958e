"""`finance-pipeline sandbox`: run a sandbox in the foreground and print its environment.

The printed lines are shell `export` statements (`eval "$(finance-pipeline sandbox)"` style,
or copy them into a second terminal), so a pipeline started with them talks to the sandbox.
The sandbox's keys are printed on purpose: they are local, seed-derived stand-ins, not secrets.
"""

from __future__ import annotations

import datetime as dt
import shlex
import sys
import threading
from pathlib import Path
from typing import TextIO

from finance_pipeline.sandbox import Sandbox


def serve(
    *,
    tickers: int = 300,
    seed: int = 7,
    start: dt.date | None = None,
    end: dt.date | None = None,
    plan: str = "paid",
    rate_limit_per_minute: int | None = None,
    now: dt.datetime | None = None,
    cache_dir: Path | str | None = None,
    symbology: bool = False,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Start a Sandbox, print `export NAME=value` lines for its env(), block until Ctrl-C (or
    until `stop` is set, for callers that run it in a thread), then shut it down cleanly."""
    out = out or sys.stdout
    stop = stop or threading.Event()
    with Sandbox(
        tickers=tickers,
        seed=seed,
        start=start,
        end=end,
        plan=plan,
        rate_limit_per_minute=rate_limit_per_minute,
        now=now,
        cache_dir=cache_dir,
        symbology=symbology,
    ) as sb:
        for name, value in sb.env().items():
            print(f"export {name}={shlex.quote(value)}", file=out)
        print(
            f"# sandbox: {sb.tickers} tickers, sessions {sb.start}..{sb.end}, plan {sb.plan}; "
            "Ctrl-C to stop",
            file=out,
        )
        out.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
