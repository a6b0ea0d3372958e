"""Multi-timeframe bars: 5, 15, 30 and 60-minute views built from `minute_bars` at read time.

`minute_bars_{N}m` holds every minute of the stored bars (extended hours, 04:00-20:00 New
York), `minute_bars_{N}m_regular` only the minutes of the regular session (09:30 to the close,
13:00 on half days). Both follow the vendor's per-ticker aggregates
(`/v2/aggs/ticker/T/range/N/minute/...`): windows start at multiples of N minutes from New York
midnight (the same instants as from UTC midnight, N dividing an hour); a window exists only
when it holds a minute bar; open is its first minute's, close its last's, high/low the extremes,
volume and transactions sums, vwap the volume-weighted mean of the minutes' vwaps (a lone
minute's own vwap). Flat-file minutes carry no vwap, so their windows have none either. A
regular-session hour bar starts at 09:00 and holds 09:30-09:59 (the vendor's 09:00 bar also
holds the pre-market minutes). Nothing is stored: the lake stays the only copy.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from finance_pipeline import calendar
from finance_pipeline.registry import MINUTE_BARS

MINUTES = (5, 15, 30, 60)
_HOURS = "_session_hours"

_VIEW = """
CREATE OR REPLACE TEMP VIEW {name} AS
SELECT ticker, session, {bucket} AS window_start,
       arg_min(open, window_start) AS open,
       max(high) AS high,
       min(low) AS low,
       arg_max(close, window_start) AS close,
       sum(volume) AS volume,
       CASE WHEN count(*) = 1 THEN any_value(vwap)
            ELSE sum(vwap * volume) / nullif(sum(volume), 0) END AS vwap,
       sum(transactions) AS transactions,
       count(*) AS minutes
FROM {source}
GROUP BY ticker, session, {bucket}
"""

_REGULAR = f"""
SELECT m.* FROM {MINUTE_BARS} m JOIN {_HOURS} h ON h.session = m.session
WHERE m.window_start >= h.open AND m.window_start < h.close
"""


def view_names() -> list[str]:
    """Every multi-timeframe view, extended hours first."""
    return [f"{MINUTE_BARS}_{n}m{suffix}" for suffix in ("", "_regular") for n in MINUTES]


def install_timeframes(con: duckdb.DuckDBPyConnection) -> None:
    """Create the views over the connection's `minute_bars` view (which must exist)."""
    hours = calendar.regular_hours(calendar.FIRST_SESSION, calendar.last_known_session())
    con.register("_hours_arrow", pa.Table.from_pandas(hours, preserve_index=False))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_HOURS} AS SELECT * FROM _hours_arrow")
    con.unregister("_hours_arrow")
    for minutes in MINUTES:
        name = f"{MINUTE_BARS}_{minutes}m"
        # time_bucket has no TIMESTAMPTZ_NS overload; minute starts lose nothing in the cast.
        bucket = f"time_bucket(INTERVAL '{minutes} minutes', window_start::TIMESTAMPTZ)"
        con.execute(_VIEW.format(name=name, bucket=bucket, source=MINUTE_BARS))
        regular = f"({_REGULAR})"
        con.execute(_VIEW.format(name=f"{name}_regular", bucket=bucket, source=regular))
