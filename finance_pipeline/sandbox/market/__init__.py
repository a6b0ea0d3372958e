"""The deterministic synthetic US stock market behind both sandbox servers.

One seeded market is behind the REST and the S3 flat-file servers, so every path gives the same
numbers. Everything here is pure computation: no sockets, no Dagster.

Conventions (must hold exactly; the servers and tests rely on them):
- Sessions are `finance_pipeline.calendar.sessions_between(start, end)` (XNYS).
- All prices/volumes returned here are RAW (unadjusted) unless a method says otherwise.
- `window_start` columns are int64 Unix NANOSECONDS UTC. Day bars: 00:00 America/New_York of
  the session. Minute bars: the start of the minute, 04:00 <= t < 20:00 New York.
- Tickers keep their case (`BRK.A`, `KIMpL`); `NA` must survive CSV round trips as a string.
- Same (seed, tickers, start, end) => byte-identical frames and files.
- A date that is not one of `Market.sessions` has no trades: bar methods return an empty frame.

The day/minute rule (day bars are computed without minute bars; minute bars are then generated
inside their day bar, so the rule holds exactly, over 04:00-20:00 New York):
- day open = open of the first regular-hours minute bar (09:30 <= t < close);
- day close = close of the last regular-hours minute bar;
- day high = max minute high, day low = min minute low;
- day volume = sum of minute volumes + an odd-lot remainder (0-99 shares), so the summed
  minute volume is never above the day volume, as in real data;
- day transactions = sum of minute transactions + odd-lot trades (0-3);
- vwap is NOT part of the rule (flat files carry none): day and minute vwap each lie in their
  bar's [low, high].
Every ticker with a day bar has at least one regular-hours minute bar. Prices have at most 4
decimals and are at least 0.0001; volumes are whole-share floats.

Minute coverage: regular hours are dense for liquid names, extended hours (04:00-09:30 and
after the close) sparse; a minute has a bar with probability 1 - exp(-trades * profile), so
illiquid names (warrants, OTC) have few bars and sometimes skip whole sessions. On half days
the regular session closes at 13:00 and sparse after-hours bars run until 17:00, none later.

Model: each ticker's value follows a slowly mean-reverting log random walk over the whole
range (continuous across sessions); the raw price is that value divided by the splits executed
so far, so it jumps on an execution_date by split_to/split_from. Dividends do not move prices.
Random draws come from PCG64 generators seeded by (seed, purpose[, session ordinal]), so a
session's bars do not depend on which sessions were generated before.

Memory and caching: the universe is built in the constructor (cheap even for 12,000 tickers);
the whole range's log-value path (sessions x tickers float64, ~200 MB for 10 years of 10,000
tickers) is computed once on first use; the last 64 sessions' day arrays are memoised. Minute
sessions are cached as Parquet under `cache_dir` keyed by (MODEL_VERSION, seed, tickers,
start, end, session), and the most recent ones (up to ~3M rows) are kept in memory. A
per-ticker minute request (`minute_bars(session, [ticker])`) generates the whole session once:
use `cache_dir` with big universes.

Reference data: `cik` is None for some OTC names (an object column, never NaN); listings are
sorted by ticker; list_date/delisted_date are `datetime.date` objects (delisted_date None while
listed).

Modules: `profiles` (fixed parameters), `seeding` (generators, ids, frames), `universe`
(symbols, reference data, listing history), `corporate_actions` (splits, dividends), `day_bars`,
`minute_bars`, `minute_cache`, `model` (`Market`, the facade the servers use).

Public API beyond the contract: MODEL_VERSION, SPECIAL_TICKERS, WATCHLIST_TICKERS, TYPES,
DAY_COLUMNS, MINUTE_COLUMNS, LISTING_COLUMNS, Market.symbols (ticker array in universe order),
Market.sessions / seed / tickers / start / end / cache_dir, Market.split_factors(session, as_of),
Market.adjusted_day_bars(session, as_of=None), Market.adjusted_minute_bars(session, tickers=None,
as_of=None) (split-adjusted like Polygon's adjusted=true; as_of defaults to the range's end),
Market.minute_cache_path(session).
"""

from finance_pipeline.sandbox.market.minute_cache import MODEL_VERSION
from finance_pipeline.sandbox.market.model import Market
from finance_pipeline.sandbox.market.profiles import SPECIAL_TICKERS, TYPES, WATCHLIST_TICKERS
from finance_pipeline.sandbox.market.seeding import DAY_COLUMNS, MINUTE_COLUMNS
from finance_pipeline.sandbox.market.universe import LISTING_COLUMNS

__all__ = [
    "DAY_COLUMNS",
    "LISTING_COLUMNS",
    "MINUTE_COLUMNS",
    "MODEL_VERSION",
    "SPECIAL_TICKERS",
    "TYPES",
    "WATCHLIST_TICKERS",
    "Market",
]
