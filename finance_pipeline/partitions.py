"""The Dagster partitions definition on NYSE trading sessions (the sessions themselves are in
`finance_pipeline.calendar`, which has no Dagster in it)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd

from finance_pipeline.calendar import FIRST_SESSION, is_session, last_known_session


def trading_sessions_partitions_def() -> dg.DailyPartitionsDefinition:
    """Daily partitions in New York time with every non-session weekday excluded.

    `end_offset=0`: the newest partition is the last day that has ended (see dagster.md on
    why end_offset=1 with exclusions is avoided).
    """
    closures = [
        dt.datetime.combine(day.date(), dt.time())
        for day in pd.bdate_range(FIRST_SESSION, last_known_session())
        if not is_session(day.date())
    ]
    return dg.DailyPartitionsDefinition(
        start_date=FIRST_SESSION.isoformat(),
        timezone="America/New_York",
        end_offset=0,
        exclusions=["0 0 * * 6", "0 0 * * 0", *closures],
    )


TRADING_SESSIONS = trading_sessions_partitions_def()
