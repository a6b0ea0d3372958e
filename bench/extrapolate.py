"""Extrapolation: CPU hours to ingest the whole flat-file history on this machine.

Every session from 2003-09-10 (the first stock flat file) to today, day aggs and minute aggs,
from the per-session CPU seconds measured in this run: B3's product path for one minute session
(whole market) and B4's Dagster backfill per day session. Conservative: early years have far
fewer tickers and minute bars than today's market, and every session is counted at full size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bench.common import Target, figure


def history_sessions(today: dt.date | None = None) -> tuple[int, dt.date]:
    """How many sessions the flat-file history holds up to `today` (or the calendar's last
    known session), and the last of them."""
    from finance_pipeline.calendar import FIRST_SESSION, last_known_session, sessions_between

    end = min(today or dt.date.today(), last_known_session())
    return len(sessions_between(FIRST_SESSION, end)), end


def run(figures: dict[str, dict[str, Any]], today: dt.date | None = None) -> dict[str, Any]:
    from finance_pipeline.calendar import FIRST_SESSION

    sessions, end = history_sessions(today)
    b3 = figures["b3_ingest_vs_duckdb"]["details"]["variants"]
    b4 = figures["b4_dagster_vs_raw_loop"]["details"]
    minute_cpu = b3["product"]["cpu_seconds_median"]
    duck_cpu = b3["duckdb"]["cpu_seconds_median"]
    day_cpu = b4["dagster_cpu_seconds_per_session"]
    hours = sessions * (minute_cpu + day_cpu) / 3600
    # The same history at DuckDB COPY's CPU per minute session (day files are 0.5% of it).
    duck_hours = sessions * (duck_cpu + day_cpu) / 3600
    rows = figures["b3_ingest_vs_duckdb"]["details"]["rows"]
    return {
        "extrapolation_cpu_hours": figure(
            f"Whole flat-file history ({FIRST_SESSION} to {end}, day + minute aggs): CPU hours",
            value=hours,
            unit="CPU h",
            baseline=duck_hours,
            baseline_label="the same sessions at DuckDB COPY's CPU per minute session",
            ratio=hours / duck_hours if duck_hours else None,
            target=Target("<", 3, on="value", text="< 3 CPU hours"),
            how=(
                f"{sessions:,} sessions x ({minute_cpu:.2f} s CPU per minute session [B3 "
                f"product path, {rows:,} rows] + {day_cpu:.3f} s CPU per day session [B4 "
                f"through Dagster]); baseline: DuckDB COPY's {duck_cpu:.2f} s CPU per minute "
                f"session measured in the same run ({duck_hours:.2f} CPU h). Every session at "
                "today's market size (early years are far smaller), S3 transfer time excluded."
            ),
            details={
                "sessions": sessions,
                "first_session": FIRST_SESSION.isoformat(),
                "last_session": end.isoformat(),
                "minute_cpu_seconds_per_session": minute_cpu,
                "day_cpu_seconds_per_session": day_cpu,
                "duckdb_cpu_seconds_per_minute_session": duck_cpu,
            },
        )
    }
