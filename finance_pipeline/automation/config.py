"""The automation knobs, read from the environment when the definitions load.

Cron strings and sensor intervals are part of a definition, so changing one of these needs the
code location to be reloaded (the UI's "Reload" or a restart of `dagster dev`).
"""

from __future__ import annotations

import datetime as dt

from finance_pipeline.configuration import ConfigError, clock_time, positive_int

# The variables are checked (and parsed) by finance_pipeline.configuration, like every other.
AutomationConfigError = ConfigError
__all__ = ["AutomationConfigError", "clock_time", "daily_cron", "positive_int"]


def daily_cron(time: dt.time) -> str:
    """A cron string firing every day at `time` (read in the schedule's timezone)."""
    return f"{time.minute} {time.hour} * * *"
