"""The automation knobs, read from the environment when the definitions load.

Cron strings and sensor intervals are part of a definition, so changing one of these needs the
code location to be reloaded (the UI's "Reload" or a restart of `dagster dev`).
"""

from __future__ import annotations

import datetime as dt

from finance_pipeline.settings import env


class AutomationConfigError(ValueError):
    """An automation environment variable with an unusable value; the message names it."""


def _raw(name: str) -> str:
    return env(name) or ""


def clock_time(name: str) -> dt.time:
    """An `HH:MM` variable as a time of day."""
    value = _raw(name)
    try:
        hour, minute = (int(part) for part in value.split(":"))
        return dt.time(hour, minute)
    except ValueError:
        raise AutomationConfigError(
            f"{name} must be a New York time of day as HH:MM (for example 00:45), got {value!r}"
        ) from None


def positive_int(name: str) -> int:
    value = _raw(name)
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise AutomationConfigError(f"{name} must be a positive whole number, got {value!r}")
    return number


def daily_cron(time: dt.time) -> str:
    """A cron string firing every day at `time` (read in the schedule's timezone)."""
    return f"{time.minute} {time.hour} * * *"
