"""The security-master views over the `securities` dataset (its raw view holds every as-of
session; these read the latest one, which knows the whole stored history):

- `security_master`: one row per (security, ticker, validity interval): security_id,
  id_source, ticker, first_session, last_session (inclusive), sessions, name, cik,
  composite_figi, share_class_figi, previous_ticker (set on a rename), reused, current;
- `security_history`: every daily bar of a security across its tickers, each bar taken only
  inside the interval its ticker belonged to the security (a reused ticker's other company is
  never joined): security_id, session, ticker and the bar's raw columns, plus the adjusted
  columns of `daily_bars_adjusted` when corporate actions are in the warehouse (split_factor,
  dividend_factor, adj_open..adj_volume, total_return_close; else factors of 1);
- `ticker_on(ticker, session)`: a table macro, the security_master row(s) of what `ticker`
  meant on `session` (none when it belonged to no security then).
"""

from __future__ import annotations

from collections.abc import Collection

import duckdb

from finance_pipeline.registry import DAILY_BARS, DIVIDENDS, SECURITIES, SPLITS
from finance_pipeline.warehouse.common import one_line, sql_str
from finance_pipeline.warehouse.views import ADJUSTED_VIEW

MASTER_VIEW = "security_master"
HISTORY_VIEW = "security_history"
TICKER_MACRO = "ticker_on"

_MASTER = f"""
CREATE OR REPLACE TEMP VIEW {MASTER_VIEW} AS
SELECT * EXCLUDE (session) FROM {SECURITIES}
WHERE session = (SELECT max(session) FROM {SECURITIES})
"""

_UNADJUSTED = f"""
SELECT *, 1.0 AS split_factor, 1.0 AS dividend_factor, open AS adj_open, high AS adj_high,
       low AS adj_low, close AS adj_close, vwap AS adj_vwap, volume AS adj_volume,
       close AS total_return_close
FROM {DAILY_BARS}
"""

_HISTORY = f"""
CREATE OR REPLACE TEMP VIEW {HISTORY_VIEW} AS
SELECT m.security_id, b.session, b.ticker, m.name,
       b.open, b.high, b.low, b.close, b.volume, b.vwap, b.transactions, b.source,
       b.split_factor, b.dividend_factor, b.adj_open, b.adj_high, b.adj_low, b.adj_close,
       b.adj_volume, b.total_return_close
FROM {MASTER_VIEW} m
JOIN ({{bars}}) b
  ON b.ticker = m.ticker AND b.session BETWEEN m.first_session AND m.last_session
"""

_TICKER_ON = f"""
CREATE OR REPLACE TEMP MACRO {TICKER_MACRO}(symbol, day) AS TABLE
SELECT * FROM {MASTER_VIEW}
WHERE ticker = symbol AND CAST(day AS DATE) BETWEEN first_session AND last_session
"""


def install_security_views(con: duckdb.DuckDBPyConnection, datasets: Collection[str]) -> None:
    """Create the views on `con` (after `views.install_views`) when the warehouse has
    securities and daily bars; adjusted from `daily_bars_adjusted` when it has splits and
    dividends too, else with factors of 1."""
    if not {SECURITIES, DAILY_BARS} <= set(datasets):
        return
    for view, sql in ((MASTER_VIEW, _MASTER), (TICKER_MACRO, _TICKER_ON)):
        _install(con, view, sql)
    adjusted = {SPLITS, DIVIDENDS} <= set(datasets)
    bars = f"SELECT * FROM {ADJUSTED_VIEW}" if adjusted else _UNADJUSTED
    _install(con, HISTORY_VIEW, _HISTORY.format(bars=bars))


def _install(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    """A view whose inputs cannot be read (a bad stored file) fails only its own queries."""
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        message = sql_str(f"{name} cannot be built: {one_line(exc)}")
        if name == TICKER_MACRO:
            sql = f"CREATE OR REPLACE TEMP MACRO {name}(symbol, day) AS TABLE "
        else:
            sql = f"CREATE OR REPLACE TEMP VIEW {name} AS "
        con.execute(sql + f"FROM range(1) WHERE error({message})")
