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

Public API beyond the contract: MODEL_VERSION, SPECIAL_TICKERS, WATCHLIST_TICKERS, TYPES,
DAY_COLUMNS, MINUTE_COLUMNS, LISTING_COLUMNS, Market.symbols (ticker array in universe order),
Market.sessions / seed / tickers / start / end / cache_dir, Market.split_factors(session, as_of),
Market.adjusted_day_bars(session, as_of=None), Market.adjusted_minute_bars(session, tickers=None,
as_of=None) (split-adjusted like Polygon's adjusted=true; as_of defaults to the range's end),
Market.minute_cache_path(session).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from finance_pipeline.calendar import NEW_YORK, session_close, session_open, sessions_between

# Bump whenever generated numbers change, so stale minute caches are never reused.
MODEL_VERSION = 1

WATCHLIST_TICKERS = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY")
SPECIAL_TICKERS = (*WATCHLIST_TICKERS, "BRK.A", "BRK.B", "KIMpL", "NA", "ZVZZT")
# Never generated: the specials, other exchange test symbols, and strings CSV readers mangle.
_RESERVED = frozenset({*SPECIAL_TICKERS, "ZWZZT", "ZXZZT", "NULL", "NAN", "NONE", "TRUE"})

TYPES = ("CS", "ETF", "ADRC", "PFD", "WARRANT")
DAY_COLUMNS = [
    "ticker",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "transactions",
    "window_start",
    "otc",
]
MINUTE_COLUMNS = DAY_COLUMNS[:-1]
LISTING_COLUMNS = [
    "ticker",
    "name",
    "market",
    "locale",
    "primary_exchange",
    "type",
    "currency_name",
    "cik",
    "composite_figi",
    "share_class_figi",
    "list_date",
    "delisted_date",
]

_MIN_PRICE = 0.0001
_PHI = 0.999  # AR(1) coefficient of the log value: keeps 10-year paths in a plausible band
_DIVIDEND_EVERY = 63  # sessions between quarterly ex-dates
_FIRST_MINUTE_HOUR = 4  # minute bars start 04:00 New York
_EXTENDED_END_MINUTES = 16 * 60  # 04:00 + 16 h = 20:00
_HALF_DAY_END_MINUTES = 13 * 60  # 04:00 + 13 h = 17:00 (our choice for half days)
_DAY_MEMO = 64
_MINUTE_MEMO_ROWS = 3_000_000  # in-memory minute sessions: ~2 at 10,000 tickers, ~50 at 300


@dataclass(frozen=True)
class _Special:
    name: str
    type: str
    exchange: str
    level: float  # raw price at the start of the range
    sigma: float  # daily log volatility
    trades: float  # median daily transactions
    size: float  # median shares per trade
    dividend: float  # quarterly cash per share at the start of the range (0: none)


_SPECIALS: dict[str, _Special] = {
    "AAPL": _Special("Apple Inc.", "CS", "XNAS", 185.0, 0.016, 700_000, 90, 0.24),
    "MSFT": _Special("Microsoft Corp", "CS", "XNAS", 400.0, 0.015, 450_000, 60, 0.75),
    "NVDA": _Special("Nvidia Corp", "CS", "XNAS", 480.0, 0.030, 1_200_000, 120, 0.04),
    "TSLA": _Special("Tesla, Inc. Common Stock", "CS", "XNAS", 240.0, 0.035, 900_000, 110, 0.0),
    "SPY": _Special("SPDR S&P 500 ETF Trust", "ETF", "ARCX", 480.0, 0.009, 600_000, 120, 1.7),
    "BRK.A": _Special(
        "Berkshire Hathaway Inc. Class A", "CS", "XNYS", 600_000.0, 0.010, 2_500, 1.3, 0.0
    ),
    "BRK.B": _Special(
        "Berkshire Hathaway Inc. Class B", "CS", "XNYS", 400.0, 0.010, 60_000, 70, 0.0
    ),
    "KIMpL": _Special(
        "Kimco Realty Corp Class L Preferred", "PFD", "XNYS", 22.0, 0.006, 150, 80, 0.3125
    ),
    "NA": _Special(
        "Nano Labs Ltd Class A Ordinary Shares", "CS", "XNAS", 1.8, 0.045, 400, 300, 0.0
    ),
    "ZVZZT": _Special("NASDAQ TEST STOCK", "CS", "XNAS", 10.0, 0.010, 20, 100, 0.0),
}

# Real splits of watchlist names, used when they fall inside the range.
_REAL_SPLITS: tuple[tuple[str, dt.date, float, float], ...] = (
    ("AAPL", dt.date(2014, 6, 9), 1.0, 7.0),
    ("AAPL", dt.date(2020, 8, 31), 1.0, 4.0),
    ("TSLA", dt.date(2020, 8, 31), 1.0, 5.0),
    ("TSLA", dt.date(2022, 8, 25), 1.0, 3.0),
    ("NVDA", dt.date(2021, 7, 20), 1.0, 4.0),
    ("NVDA", dt.date(2024, 6, 10), 1.0, 10.0),
)

# Per generated type: (median level, level spread, level clip, daily sigma, median trades,
# trades spread, probability of trading on a listed session).
_TYPE_PARAMS: dict[str, tuple[float, float, tuple[float, float], float, float, float, float]] = {
    "CS": (25.0, 1.1, (0.5, 1500.0), 0.022, 220.0, 1.9, 1.0),
    "ETF": (40.0, 0.8, (5.0, 700.0), 0.010, 90.0, 2.0, 1.0),
    "ADRC": (15.0, 1.0, (0.5, 400.0), 0.020, 70.0, 1.8, 1.0),
    "PFD": (22.0, 0.2, (10.0, 30.0), 0.006, 30.0, 1.2, 1.0),
    "WARRANT": (0.6, 1.0, (0.05, 5.0), 0.060, 15.0, 1.3, 0.6),
    "OTC": (2.0, 1.5, (0.02, 200.0), 0.040, 12.0, 1.6, 0.85),
}
_EXCHANGES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "CS": (("XNAS", "XNYS", "XASE", "BATS"), (0.55, 0.35, 0.06, 0.04)),
    "ETF": (("ARCX", "BATS", "XNAS"), (0.7, 0.2, 0.1)),
    "ADRC": (("XNYS", "XNAS"), (0.5, 0.5)),
    "PFD": (("XNYS",), (1.0,)),
    "WARRANT": (("XNAS", "XNYS"), (0.8, 0.2)),
}
# fmt: off
_WORDS = (
    "Acme", "Apex", "Arbor", "Atlas", "Beacon", "Birch", "Bold", "Cedar", "Cobalt", "Crest",
    "Delta", "Echo", "Ember", "Falcon", "Fir", "Forge", "Granite", "Harbor", "Helix", "Horizon",
    "Iron", "Juniper", "Keystone", "Lumen", "Maple", "Meridian", "Nova", "Oak", "Orion", "Pine",
    "Prairie", "Quarry", "Raven", "Ridge", "Sable", "Sierra", "Summit", "Terra", "Titan", "Union",
    "Vector", "Vista", "Willow", "Zenith",
)
_SECTORS = (
    "Bancorp", "Biotech", "Energy", "Foods", "Logistics", "Materials", "Medical", "Mining",
    "Realty", "Software",
)
# fmt: on
_FIGI_CHARS = np.array(list("BCDFGHJKLMNPQRSTVWXYZ0123456789"))


def _purpose_code(purpose: str) -> int:
    return zlib.crc32(purpose.encode())


def _rng(seed: int, purpose: str, ordinal: int | None = None) -> np.random.Generator:
    """A PCG64 generator that depends only on (seed, purpose[, ordinal])."""
    entropy = [seed, _purpose_code(purpose)] + ([] if ordinal is None else [ordinal])
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _ny_ns(day: dt.date, minutes_after_midnight: int = 0) -> int:
    """Unix ns of a New York wall-clock time on `day` (DST-aware)."""
    moment = dt.datetime.combine(day, dt.time(), tzinfo=NEW_YORK) + dt.timedelta(
        minutes=minutes_after_midnight
    )
    return int(pd.Timestamp(moment).value)


def _event_id(seed: int, kind: str, ticker: str, day: dt.date) -> str:
    digest = hashlib.sha256(f"{seed}|{kind}|{ticker}|{day.isoformat()}".encode()).hexdigest()
    return "E" + digest


def _weekday_on_or_before(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _weekday_on_or_after(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _round_price(values: np.ndarray) -> np.ndarray:
    return np.maximum(np.round(values, 4), _MIN_PRICE)


@dataclass(frozen=True)
class _Day:
    """One session's day bars as arrays over the tickers that traded (universe order)."""

    idx: np.ndarray  # universe indices, ascending (= sorted by ticker)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    vwap: np.ndarray
    minute_volume: np.ndarray  # int64: sum of minute volumes
    minute_trades: np.ndarray  # int64: sum of minute transactions
    odd_volume: np.ndarray  # int64
    odd_trades: np.ndarray  # int64


class Market:
    """A seeded universe with listings, delistings, splits, dividends, day and minute bars.

    Parameters:
        seed: RNG seed; the market is a pure function of (seed, tickers, start, end).
        tickers: number of listings (default 300; must work up to at least 12,000). Always
            includes BRK.A, BRK.B, KIMpL, NA and the exchange test symbol ZVZZT, a mix of types
            CS, ETF, ADRC, PFD, WARRANT, some OTC names (market "otc"), some IPOs and
            delistings inside [start, end], forward and reverse splits and cash dividends
            inside [start, end] (at least one split of each kind when tickers >= 50).
            AAPL, MSFT, NVDA, TSLA (CS) and SPY (ETF) are listed for the whole range; NVDA,
            AAPL or TSLA split on their real dates when inside the range, else NVDA splits
            2-for-1 at the middle session.
        start, end: the date range (inclusive); sessions come from XNYS.
        cache_dir: where generated minute sessions are cached between runs (None: no cache).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        tickers: int = 300,
        start: dt.date,
        end: dt.date,
        cache_dir: Path | None = None,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        if tickers < len(SPECIAL_TICKERS):
            raise ValueError(
                f"tickers must be at least {len(SPECIAL_TICKERS)} (the special symbols "
                f"{', '.join(SPECIAL_TICKERS)}), got {tickers}"
            )
        self.seed = seed
        self.tickers = tickers
        self.start = start
        self.end = end
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.sessions: list[dt.date] = sessions_between(start, end)
        if not self.sessions:
            raise ValueError(f"there is no NYSE trading session between {start} and {end}")
        self._session_index = {day: k for k, day in enumerate(self.sessions)}
        self._lock = threading.Lock()
        self._path: np.ndarray | None = None
        self._dividends: pd.DataFrame | None = None
        self._minute_memo: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()
        self._day = lru_cache(maxsize=_DAY_MEMO)(self._compute_day)
        self._build_universe()
        self._build_splits()
        self._build_dividends()

    # ----------------------------------------------------------------------------- universe

    def _generate_symbols(self, rng: np.random.Generator, count: int) -> list[str]:
        """`count` unique uppercase symbols of 1-5 letters, none reserved."""
        chosen: dict[str, None] = {}
        while len(chosen) < count:
            batch = max(64, 2 * (count - len(chosen)))
            lengths = rng.choice(np.arange(1, 6), size=batch, p=[0.005, 0.045, 0.35, 0.52, 0.08])
            letters = rng.integers(ord("A"), ord("Z") + 1, size=(batch, 5), dtype=np.uint8)
            for row, length in zip(letters, lengths, strict=True):
                symbol = row[:length].tobytes().decode()
                if symbol in _RESERVED or "TEST" in symbol or symbol in chosen:
                    continue
                chosen[symbol] = None
                if len(chosen) == count:
                    break
        return list(chosen)

    def _build_universe(self) -> None:
        rng = _rng(self.seed, "universe")
        n_sessions = len(self.sessions)
        generated = self._generate_symbols(rng, self.tickers - len(SPECIAL_TICKERS))
        symbols = sorted([*SPECIAL_TICKERS, *generated])
        n = len(symbols)
        self.symbols: np.ndarray = np.array(symbols, dtype=object)
        self._ticker_index = {symbol: i for i, symbol in enumerate(symbols)}
        special = np.array([s in _SPECIALS for s in symbols])

        # Type (and OTC) of every listing; specials are overridden below.
        is_otc = rng.random(n) < 0.08
        types = rng.choice(np.array(TYPES), size=n, p=[0.72, 0.14, 0.05, 0.04, 0.05])
        types = np.where(is_otc & ~np.isin(types, ["CS", "ADRC"]), "CS", types).astype(object)
        exchange = np.empty(n, dtype=object)
        for kind, (venues, weights) in _EXCHANGES.items():
            exchange[types == kind] = rng.choice(np.array(venues), size=n, p=weights)[types == kind]
        exchange[is_otc] = "OTCM"
        param_key = np.where(is_otc, "OTC", types)

        level = np.empty(n)
        sigma = np.empty(n)
        trades = np.empty(n)
        p_trade = np.empty(n)
        z_level, z_trades = rng.standard_normal(n), rng.standard_normal(n)
        for key, (med, spread, (lo, hi), vol, med_trades, t_spread, prob) in _TYPE_PARAMS.items():
            mask = param_key == key
            level[mask] = np.clip(med * np.exp(spread * z_level[mask]), lo, hi)
            sigma[mask] = vol
            trades[mask] = np.clip(med_trades * np.exp(t_spread * z_trades[mask]), 2, 2e6)
            p_trade[mask] = prob
        sigma *= np.exp(0.25 * rng.standard_normal(n))
        # Shares per trade: bigger for cheap stocks.
        size = np.clip(
            120 * np.exp(0.4 * rng.standard_normal(n)) * (30.0 / level) ** 0.3, 1.2, 20_000
        )

        names = _company_names(rng, types)
        cik = np.array(
            [f"{v:010d}" for v in rng.integers(1_000_000, 2_100_000, size=n)], dtype=object
        )
        cik[is_otc & (rng.random(n) < 0.5)] = None
        figi = _FIGI_CHARS[rng.integers(0, len(_FIGI_CHARS), size=(n, 18))]
        composite = np.array(["BBG00" + "".join(r[:7]) for r in figi], dtype=object)
        share_class = np.array(["BBG00" + "".join(r[7:14]) for r in figi], dtype=object)

        list_date, list_k, delist_k, delisted_date = self._listing_history(rng, special)

        # Specials: fixed attributes, listed for the whole range.
        for symbol, spec in _SPECIALS.items():
            i = self._ticker_index[symbol]
            types[i], exchange[i], names[i] = spec.type, spec.exchange, spec.name
            is_otc[i] = False
            level[i], sigma[i], trades[i], size[i] = spec.level, spec.sigma, spec.trades, spec.size
            p_trade[i] = 1.0
            list_k[i], delist_k[i], delisted_date[i] = 0, n_sessions, None
            list_date[i] = _weekday_on_or_before(self.start - dt.timedelta(days=3000))

        self._types = types
        self._is_otc = is_otc
        self._exchange = exchange
        self._names = names
        self._cik = cik
        self._composite = composite
        self._share_class = share_class
        self._list_date = list_date
        self._delisted_date = delisted_date
        self._list_k = list_k
        self._delist_k = delist_k
        self._level = level
        self._sigma = sigma
        self._trades = trades
        self._size = size
        self._p_trade = p_trade
        self._special = special
        self._rng_universe = rng  # consumed further by splits and dividends, in that order

    def _listing_history(
        self, rng: np.random.Generator, special: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """list_date, first trading session index, delisting session index (len(sessions):
        never) and delisted_date per listing. Most were listed long before the range; some IPOs
        and delistings fall inside it (never for the special tickers)."""
        n, n_sessions = len(special), len(self.sessions)
        days_before = rng.integers(30, 9000, size=n)
        list_date = np.array(
            [_weekday_on_or_before(self.start - dt.timedelta(days=int(d))) for d in days_before],
            dtype=object,
        )
        list_k = np.zeros(n, dtype=np.int64)
        delist_k = np.full(n, n_sessions, dtype=np.int64)
        order = rng.permutation(np.flatnonzero(~special))
        rate = min(0.2, 0.01 + 0.02 * n_sessions / 252.0)
        n_events = max(1 if self.tickers >= 50 else 0, round(len(order) * rate))
        if n_sessions >= 3 and len(order) >= 2 * n_events:
            ipos, delists = order[:n_events], order[n_events : 2 * n_events]
            list_k[ipos] = rng.integers(1, n_sessions - 1, size=len(ipos))
            for i in ipos:
                list_date[i] = self.sessions[list_k[i]]
            # A quarter of the IPOs are delisted too, after at least one session of trading.
            delists = np.concatenate([delists, ipos[: len(ipos) // 4]])
            low = list_k[delists] + 1
            delist_k[delists] = low + (rng.random(len(delists)) * (n_sessions - low)).astype(
                np.int64
            )
        delisted_date = np.array(
            [self.sessions[k] if k < n_sessions else None for k in delist_k], dtype=object
        )
        return list_date, list_k, delist_k, delisted_date

    def listings(self) -> pd.DataFrame:
        """One row per listing: ticker, name, market ("stocks"|"otc"), locale ("us"),
        primary_exchange (XNYS, XNAS, ARCX, BATS, OTCM...), type (CS, ETF, ADRC, PFD, WARRANT),
        currency_name ("usd"), cik, composite_figi, share_class_figi, list_date (date),
        delisted_date (date or None: first date it no longer trades)."""
        n = len(self.symbols)
        return pd.DataFrame(
            {
                "ticker": self.symbols,
                "name": self._names,
                "market": np.where(self._is_otc, "otc", "stocks"),
                "locale": np.full(n, "us"),
                "primary_exchange": self._exchange,
                "type": self._types,
                "currency_name": np.full(n, "usd"),
                "cik": pd.Series(self._cik, dtype=object),  # None stays None, not NaN
                "composite_figi": self._composite,
                "share_class_figi": self._share_class,
                "list_date": self._list_date,
                "delisted_date": self._delisted_date,
            },
            columns=LISTING_COLUMNS,
        )

    def tickers_as_of(self, day: dt.date, active: bool) -> pd.DataFrame:
        """Point-in-time reference tickers (Polygon `date=` semantics): listed on or before
        `day`; active=True: not delisted by `day`; active=False: delisted on or before `day`.
        Columns as listings() plus `active` (bool) and `delisted_utc` (ISO string or None).
        Sorted by ticker, no duplicate rows. For an active row, `delisted_date` and
        `delisted_utc` are None (a later delisting is not known yet on `day`)."""
        frame = self.listings()
        listed = np.array([d <= day for d in self._list_date])
        gone = np.array([d is not None and d <= day for d in self._delisted_date])
        keep = listed & (~gone if active else gone)
        frame = frame[keep].reset_index(drop=True)
        frame["active"] = active
        if active:
            frame["delisted_date"] = None
            frame["delisted_utc"] = None
        else:
            frame["delisted_utc"] = pd.Series(
                [f"{d.isoformat()}T00:00:00Z" for d in frame["delisted_date"]], dtype=object
            )
        return frame

    # ------------------------------------------------------------------ corporate actions

    def _build_splits(self) -> None:
        rng = self._rng_universe
        n_sessions = len(self.sessions)
        first, last = self.sessions[0], self.sessions[-1]
        rows: list[tuple[int, int, float, float]] = []  # (ticker index, session k, from, to)
        for ticker, day, split_from, split_to in _REAL_SPLITS:
            if first <= day <= last and day in self._session_index:
                rows.append(
                    (self._ticker_index[ticker], self._session_index[day], split_from, split_to)
                )
        if not rows:
            rows.append((self._ticker_index["NVDA"], n_sessions // 2, 1.0, 2.0))

        years = n_sessions / 252.0
        eligible = np.flatnonzero(
            ~self._special
            & ~self._is_otc
            & (self._types == "CS")
            & (self._delist_k - self._list_k >= 2)
        )
        at_least = 1 if self.tickers >= 50 else 0
        n_forward = max(at_least, round(len(eligible) * 0.005 * years))
        n_reverse = max(at_least, round(len(eligible) * 0.007 * years))
        picked = rng.permutation(eligible)[: n_forward + n_reverse]
        for j, i in enumerate(picked):
            lo, hi = self._list_k[i] + 1, self._delist_k[i]  # trades before and on the split
            k = int(lo + rng.integers(0, hi - lo))
            if j < n_forward:
                self._level[i] = rng.uniform(150, 700)
                rows.append((int(i), k, 1.0, float(rng.choice([2.0, 3.0, 4.0]))))
            else:
                self._level[i] = rng.uniform(0.15, 1.5)
                rows.append((int(i), k, float(rng.choice([10.0, 10.0, 5.0, 20.0])), 1.0))
        rows.sort(key=lambda r: (self.symbols[r[0]], r[1]))
        self._split_t = np.array([r[0] for r in rows], dtype=np.int64)
        self._split_k = np.array([r[1] for r in rows], dtype=np.int64)
        self._split_from = np.array([r[2] for r in rows])
        self._split_to = np.array([r[3] for r in rows])
        self._split_ratio = self._split_to / self._split_from
        self._split_dates: dict[str, list[tuple[dt.date, float]]] = {}
        self._split_sessions: dict[int, list[tuple[int, float]]] = {}
        for t, k, ratio in zip(self._split_t, self._split_k, self._split_ratio, strict=True):
            self._split_dates.setdefault(self.symbols[t], []).append(
                (self.sessions[k], float(ratio))
            )
            self._split_sessions.setdefault(int(t), []).append((int(k), float(ratio)))

    def _adjustment(self, k: int) -> np.ndarray:
        """Per ticker: raw price per unit of start-of-range value at session k (1 / splits
        executed in (first session, k])."""
        factor = np.ones(len(self.symbols))
        done = (self._split_k <= k) & (self._split_k > 0)
        np.multiply.at(factor, self._split_t[done], self._split_ratio[done])
        return 1.0 / factor

    def splits(self) -> pd.DataFrame:
        """id, ticker, execution_date (date), split_from, split_to (floats). On execution_date
        the stock already trades post-split. Includes one exact duplicate row (vendor defect):
        the first split row appears twice."""
        frame = pd.DataFrame(
            {
                "id": [
                    _event_id(self.seed, "split", self.symbols[t], self.sessions[k])
                    for t, k in zip(self._split_t, self._split_k, strict=True)
                ],
                "ticker": self.symbols[self._split_t],
                "execution_date": [self.sessions[k] for k in self._split_k],
                "split_from": self._split_from,
                "split_to": self._split_to,
            }
        )
        return pd.concat([frame.iloc[:1], frame], ignore_index=True)

    def _build_dividends(self) -> None:
        rng = self._rng_universe
        n = len(self.symbols)
        pays = np.zeros(n, dtype=bool)
        share = {"CS": 0.25, "ETF": 0.6, "ADRC": 0.2, "PFD": 1.0, "WARRANT": 0.0}
        u = rng.random(n)
        for kind, probability in share.items():
            pays |= (self._types == kind) & (u < probability)
        pays &= ~self._is_otc
        yields = np.where(self._types == "PFD", 0.06, rng.uniform(0.01, 0.05, size=n))
        amount = np.maximum(np.round(self._level * yields / 4, 2), 0.01)
        phase = rng.integers(0, _DIVIDEND_EVERY, size=n)
        declare_lag = rng.integers(14, 35, size=n)
        pay_lag = rng.integers(10, 30, size=n)
        for symbol, spec in _SPECIALS.items():
            i = self._ticker_index[symbol]
            pays[i] = spec.dividend > 0
            amount[i] = spec.dividend
        rows = []
        for i in np.flatnonzero(pays):
            for k in range(int(phase[i]), int(self._delist_k[i]), _DIVIDEND_EVERY):
                if k < self._list_k[i]:
                    continue
                rows.append((int(i), k))
        self._dividend_rows = rows
        self._dividend_amount = amount
        self._declare_lag = declare_lag
        self._pay_lag = pay_lag

    def dividends(self) -> pd.DataFrame:
        """id, ticker, cash_amount, currency, declaration_date, ex_dividend_date, record_date,
        pay_date (dates), frequency (int), dividend_type ("CD"). Quarterly; the cash amount is
        raw (per share as traded on the ex-date, so it shrinks after a forward split)."""
        with self._lock:
            if self._dividends is None:
                self._dividends = self._dividend_frame()
            return self._dividends.copy()

    def _dividend_frame(self) -> pd.DataFrame:
        records = []
        for i, k in self._dividend_rows:
            ex = self.sessions[k]
            symbol = self.symbols[i]
            executed = [r for s, r in self._split_sessions.get(i, ()) if 0 < s <= k]
            cash = round(float(self._dividend_amount[i] / np.prod(executed)), 4)
            records.append(
                {
                    "id": _event_id(self.seed, "dividend", symbol, ex),
                    "ticker": symbol,
                    "cash_amount": max(cash, _MIN_PRICE),
                    "currency": "USD",
                    "declaration_date": _weekday_on_or_before(
                        ex - dt.timedelta(days=int(self._declare_lag[i]))
                    ),
                    "ex_dividend_date": ex,
                    "record_date": _weekday_on_or_after(ex + dt.timedelta(days=1)),
                    "pay_date": _weekday_on_or_after(ex + dt.timedelta(days=int(self._pay_lag[i]))),
                    "frequency": 4,
                    "dividend_type": "CD",
                }
            )
        columns = [
            "id",
            "ticker",
            "cash_amount",
            "currency",
            "declaration_date",
            "ex_dividend_date",
            "record_date",
            "pay_date",
            "frequency",
            "dividend_type",
        ]
        frame = pd.DataFrame.from_records(records, columns=columns)
        frame["frequency"] = frame["frequency"].astype(np.int64)
        frame["cash_amount"] = frame["cash_amount"].astype(np.float64)
        return frame.sort_values(["ticker", "ex_dividend_date"], ignore_index=True)

    def split_factor(self, ticker: str, session: dt.date, as_of: dt.date) -> float:
        """Product of split_to/split_from over splits with session < execution_date <= as_of.
        Adjusted price = raw price / factor; adjusted volume = raw volume * factor.
        1.0 for a ticker without splits (or unknown)."""
        factor = 1.0
        for day, ratio in self._split_dates.get(ticker, ()):
            if session < day <= as_of:
                factor *= ratio
        return factor

    def split_factors(self, session: dt.date, as_of: dt.date) -> dict[str, float]:
        """split_factor for every ticker whose factor is not 1 (the others are 1)."""
        factors = {t: self.split_factor(t, session, as_of) for t in self._split_dates}
        return {t: f for t, f in factors.items() if f != 1.0}

    # --------------------------------------------------------------------------- day bars

    def _paths(self) -> np.ndarray:
        """Log value of every ticker at every session's close: shape (sessions, tickers)."""
        with self._lock:
            if self._path is None:
                n_sessions, n = len(self.sessions), len(self.symbols)
                path = np.empty((n_sessions, n))
                x = np.zeros(n)
                for k, day in enumerate(self.sessions):
                    z = _rng(self.seed, "path", day.toordinal()).standard_normal(n)
                    x = _PHI * x + self._sigma * z
                    path[k] = x
                self._path = path
            return self._path

    def _compute_day(self, k: int) -> _Day:
        n = len(self.symbols)
        day = self.sessions[k]
        rng = _rng(self.seed, "day", day.toordinal())
        u_trade = rng.random(n)
        z_gap, z_high, z_low = rng.standard_normal((3, n))
        z_trades, z_size = rng.standard_normal((2, n))
        u_odd, u_vwap = rng.random((2, n))

        path = self._paths()
        listed = (self._list_k <= k) & (k < self._delist_k)
        idx = np.flatnonzero(listed & (u_trade < self._p_trade))
        scale = self._level[idx] * self._adjustment(k)[idx]
        sigma = self._sigma[idx]
        previous = path[k - 1, idx] if k > 0 else np.zeros(len(idx))
        close = scale * np.exp(path[k, idx])
        open_ = scale * np.exp(previous + 0.3 * sigma * z_gap[idx])
        high = np.maximum(open_, close) * np.exp(0.6 * sigma * np.abs(z_high[idx]))
        low = np.minimum(open_, close) * np.exp(-0.6 * sigma * np.abs(z_low[idx]))
        open_, high, low, close = (_round_price(v) for v in (open_, high, low, close))
        vwap = np.round(low + (high - low) * (0.3 + 0.4 * u_vwap[idx]), 4)

        trades = np.maximum(1, np.round(self._trades[idx] * np.exp(0.45 * z_trades[idx])))
        volume = np.maximum(trades, np.round(trades * self._size[idx] * np.exp(0.3 * z_size[idx])))
        odd_volume = np.floor(u_odd[idx] * np.minimum(100.0, np.ceil(volume * 0.01)))
        odd_trades = (odd_volume.astype(np.int64) + 39) // 40
        return _Day(
            idx=idx,
            open=open_,
            high=high,
            low=low,
            close=close,
            vwap=vwap,
            minute_volume=volume.astype(np.int64),
            minute_trades=trades.astype(np.int64),
            odd_volume=odd_volume.astype(np.int64),
            odd_trades=odd_trades,
        )

    def day_bars(self, session: dt.date) -> pd.DataFrame:
        """RAW day bars of every ticker that traded on `session`, OTC included:
        ticker, open, high, low, close, volume (float), vwap, transactions (int64),
        window_start (int ns, 00:00 New York), otc (bool). Sorted by ticker. Tickers not listed
        yet, already delisted, or with no trades that day (illiquid names sometimes) are absent.
        Consistent with minute_bars by the rule documented in this module. A date that is not a
        session of this market gives an empty frame."""
        k = self._session_index.get(session)
        if k is None:
            return _empty(DAY_COLUMNS)
        day = self._day(k)
        return pd.DataFrame(
            {
                "ticker": self.symbols[day.idx],
                "open": day.open,
                "high": day.high,
                "low": day.low,
                "close": day.close,
                "volume": (day.minute_volume + day.odd_volume).astype(np.float64),
                "vwap": day.vwap,
                "transactions": day.minute_trades + day.odd_trades,
                "window_start": np.full(len(day.idx), _ny_ns(session), dtype=np.int64),
                "otc": self._is_otc[day.idx],
            },
            columns=DAY_COLUMNS,
        )

    def adjusted_day_bars(self, session: dt.date, as_of: dt.date | None = None) -> pd.DataFrame:
        """day_bars split-adjusted as of `as_of` (default: the range's end), like Polygon's
        adjusted=true: prices / factor (4 decimals), volume * factor."""
        return self._adjust(self.day_bars(session), session, as_of)

    def _adjust(self, frame: pd.DataFrame, session: dt.date, as_of: dt.date | None) -> pd.DataFrame:
        factors = self.split_factors(session, self.end if as_of is None else as_of)
        if not factors or frame.empty:
            return frame
        factor = frame["ticker"].map(factors).fillna(1.0).to_numpy(dtype=np.float64)
        frame = frame.copy()
        for column in ("open", "high", "low", "close", "vwap"):
            frame[column] = np.round(frame[column].to_numpy() / factor, 4)
        frame["volume"] = np.round(frame["volume"].to_numpy() * factor, 4)
        return frame

    # ------------------------------------------------------------------------ minute bars

    def minute_cache_path(self, session: dt.date) -> Path | None:
        """Where the session's minute bars are cached (None without cache_dir)."""
        if self.cache_dir is None:
            return None
        key = f"seed{self.seed}-n{self.tickers}-{self.start.isoformat()}-{self.end.isoformat()}"
        return self.cache_dir / f"v{MODEL_VERSION}" / key / f"minute-{session.isoformat()}.parquet"

    def minute_bars(self, session: dt.date, tickers: list[str] | None = None) -> pd.DataFrame:
        """RAW minute bars (04:00-20:00 New York; regular hours denser; half days close 13:00),
        same columns as day_bars minus `otc`, sorted by (ticker, window_start). Vectorised and
        cached on disk (cache_dir): 10,000 tickers => >= 1.5M rows in a few seconds.
        With `tickers`, only those (unknown ones have no rows); the rows are exactly the whole
        session's rows for them. A date that is not a session of this market gives an empty
        frame."""
        if session not in self._session_index:
            return _empty(MINUTE_COLUMNS)
        frame = self._minute_session(session)
        if tickers is None:
            return frame
        return frame[frame["ticker"].isin(list(tickers))].reset_index(drop=True)

    def adjusted_minute_bars(
        self, session: dt.date, tickers: list[str] | None = None, as_of: dt.date | None = None
    ) -> pd.DataFrame:
        """minute_bars split-adjusted as of `as_of` (default: the range's end)."""
        return self._adjust(self.minute_bars(session, tickers), session, as_of)

    def _minute_session(self, session: dt.date) -> pd.DataFrame:
        with self._lock:
            if session in self._minute_memo:
                self._minute_memo.move_to_end(session)
                return self._minute_memo[session]
        path = self.minute_cache_path(session)
        frame = None
        if path is not None and path.exists():
            try:
                frame = pd.read_parquet(path)
            except (OSError, ValueError):
                frame = None  # a damaged cache file is regenerated, never trusted
        if frame is None:
            frame = self._generate_minutes(session)
            if path is not None:
                _write_parquet_atomically(frame, path)
        with self._lock:
            self._minute_memo[session] = frame
            rows = sum(len(f) for f in self._minute_memo.values())
            while len(self._minute_memo) > 1 and rows > _MINUTE_MEMO_ROWS:
                rows -= len(self._minute_memo.popitem(last=False)[1])
        return frame

    def _generate_minutes(self, session: dt.date) -> pd.DataFrame:
        k = self._session_index[session]
        day = self._day(k)
        m = len(day.idx)
        if m == 0:
            return _empty(MINUTE_COLUMNS)
        day_start = dt.datetime.combine(session, dt.time(_FIRST_MINUTE_HOUR), tzinfo=NEW_YORK)
        reg_open = int((session_open(session) - day_start).total_seconds() // 60)
        reg_close = int((session_close(session) - day_start).total_seconds() // 60)
        half_day = reg_close < 12 * 60  # regular close before 16:00
        width = _HALF_DAY_END_MINUTES if half_day else _EXTENDED_END_MINUTES
        profile = _intraday_profile(width, reg_open, reg_close)

        rng = _rng(self.seed, "minute", session.toordinal())
        mask = _bar_mask(rng, day.minute_trades, profile, reg_open, reg_close)
        rows, minutes = np.nonzero(mask)  # row-major: sorted by ticker, then minute
        count = mask.sum(axis=1)
        n_pre = mask[:, :reg_open].sum(axis=1)
        n_reg = mask[:, reg_open:reg_close].sum(axis=1)
        seg_start = np.concatenate([[0], np.cumsum(count)[:-1]])

        points = _price_points(rng, day, count, n_pre, n_reg)
        bar_point = np.arange(len(rows)) + rows  # bar j of a ticker: points j and j+1
        bar_open, bar_close = points[bar_point], points[bar_point + 1]
        h, lo = day.high[rows], day.low[rows]
        wick = ((day.high - day.low) / (8.0 * np.sqrt(n_reg)))[rows]
        z_high, z_low, z_weight = rng.standard_normal((3, len(rows)))
        bar_high = np.round(
            np.minimum(np.maximum(bar_open, bar_close) + np.abs(z_high) * wick, h), 4
        )
        bar_low = np.round(
            np.maximum(np.minimum(bar_open, bar_close) - np.abs(z_low) * wick, lo), 4
        )
        # Pin the day's extremes to the bars closest to them.
        bar_high = np.where(bar_high == np.maximum.reduceat(bar_high, seg_start)[rows], h, bar_high)
        bar_low = np.where(bar_low == np.minimum.reduceat(bar_low, seg_start)[rows], lo, bar_low)
        bar_vwap = np.round((bar_open + bar_high + bar_low + bar_close) / 4.0, 4)

        # Split the day's volume and trades over the bars: at least 1 each, remainder at the open.
        weight = profile[minutes] * np.exp(0.5 * z_weight)
        weight /= np.add.reduceat(weight, seg_start)[rows]
        first_regular_bar = seg_start + n_pre
        volume = _distribute(weight, rows, seg_start, first_regular_bar, day.minute_volume, count)
        trades = _distribute(weight, rows, seg_start, first_regular_bar, day.minute_trades, count)

        base = _ny_ns(session, _FIRST_MINUTE_HOUR * 60)
        return pd.DataFrame(
            {
                "ticker": self.symbols[day.idx][rows],
                "open": bar_open,
                "high": bar_high,
                "low": bar_low,
                "close": bar_close,
                "volume": volume.astype(np.float64),
                "vwap": bar_vwap,
                "transactions": trades,
                "window_start": base + minutes.astype(np.int64) * 60_000_000_000,
            },
            columns=MINUTE_COLUMNS,
        )


def _bar_mask(
    rng: np.random.Generator,
    trades: np.ndarray,
    profile: np.ndarray,
    reg_open: int,
    reg_close: int,
) -> np.ndarray:
    """Which minutes have a bar, per ticker (tickers x minutes). A minute has a bar when at
    least one of the day's trades fell in it (Poisson); every ticker gets a regular-hours bar
    and never more bars than trades."""
    uniform = rng.random((len(trades), len(profile)))
    mask = uniform > np.exp(-trades[:, None].astype(np.float64) * profile[None, :])
    no_regular = ~mask[:, reg_open:reg_close].any(axis=1)
    mask[no_regular, reg_open] = True
    excess = np.flatnonzero(mask.sum(axis=1) > trades)
    if len(excess):  # drop random extra bars, keeping the first regular one
        keys = np.where(mask[excess], rng.random((len(excess), len(profile))), np.inf)
        first_regular = reg_open + np.argmax(mask[excess, reg_open:reg_close], axis=1)
        keys[np.arange(len(excess)), first_regular] = -1.0
        rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
        mask[excess] &= rank < trades[excess, None]
    return mask


def _price_points(
    rng: np.random.Generator, day: _Day, count: np.ndarray, n_pre: np.ndarray, n_reg: np.ndarray
) -> np.ndarray:
    """count+1 price points per ticker (flat, ticker after ticker) inside [low, high]: a walk
    ending exactly at the day open over the pre-market bars, a Brownian bridge from the open
    to the close over the regular bars, a walk from the close after hours."""
    m = len(count)
    o, c, lo, h = day.open, day.close, day.low, day.high
    span = h - lo
    pt_start = np.concatenate([[0], np.cumsum(count + 1)[:-1]])
    row = np.repeat(np.arange(m), count + 1)
    local = np.arange(len(row)) - pt_start[row]
    z = rng.standard_normal(len(row))
    walk = np.cumsum(z)
    walk -= np.repeat(walk[pt_start] - z[pt_start], count + 1)  # cumsum restarted per ticker
    a, b = n_pre, n_pre + n_reg  # the points pinned to the day open and close
    walk_a, walk_b = walk[pt_start + a][row], walk[pt_start + b][row]
    s_reg = (span / (2.0 * np.sqrt(n_reg)))[row]
    s_pre = (span / (6.0 * np.sqrt(np.maximum(n_pre, 1))))[row]
    s_post = (span / (6.0 * np.sqrt(np.maximum(count - b, 1))))[row]
    t = np.clip((local - a[row]) / (b - a)[row], 0.0, 1.0)
    bridge = o[row] + (c - o)[row] * t + s_reg * ((walk - walk_a) - t * (walk_b - walk_a))
    q = np.where(local < a[row], o[row] + s_pre * (walk - walk_a), bridge)
    q = np.where(local > b[row], c[row] + s_post * (walk - walk_b), q)
    q = np.round(np.clip(q, lo[row], h[row]), 4)
    q[pt_start + a] = o
    q[pt_start + b] = c
    return q


def _company_names(rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
    suffix = {
        "CS": "Inc.",
        "ETF": "Select ETF",
        "ADRC": "Ltd ADR",
        "PFD": "Corp. Series A Preferred",
        "WARRANT": "Acquisition Corp. Warrant",
    }
    word = rng.integers(0, len(_WORDS), size=len(types))
    sector = rng.integers(0, len(_SECTORS), size=len(types))
    names = [
        f"{_WORDS[w]} {_SECTORS[x]} {suffix[kind]}"
        for w, x, kind in zip(word, sector, types, strict=True)
    ]
    return np.array(names, dtype=object)


def _intraday_profile(width: int, reg_open: int, reg_close: int) -> np.ndarray:
    """Share of the day's trades per minute from 04:00: a U-shaped regular session (90%),
    a pre-market ramp (3%) and a decaying after-hours tail (7%), summing to 1."""
    t = np.arange(width, dtype=np.float64)
    pre = np.where(t < reg_open, np.exp((t - reg_open) / 60.0), 0.0)
    regular_mask = (t >= reg_open) & (t < reg_close)
    regular = np.where(
        regular_mask,
        1.0 + 3.0 * np.exp(-(t - reg_open) / 20.0) + 2.0 * np.exp(-(reg_close - 1 - t) / 15.0),
        0.0,
    )
    post = np.where(t >= reg_close, np.exp(-(t - reg_close) / 30.0) + 0.05, 0.0)
    parts = [(pre, 0.03), (regular, 0.90), (post, 0.07)]
    return sum(share * part / part.sum() for part, share in parts if part.sum() > 0)


def _distribute(
    weight: np.ndarray,
    rows: np.ndarray,
    seg_start: np.ndarray,
    remainder_at: np.ndarray,
    totals: np.ndarray,
    count: np.ndarray,
) -> np.ndarray:
    """Integers per bar summing exactly to each ticker's total: 1 + floor(weight * rest), the
    rounding remainder added at `remainder_at`. Requires totals >= count."""
    rest = (totals - count).astype(np.float64) * (1.0 - 1e-12)
    values = 1 + np.floor(weight * rest[rows]).astype(np.int64)
    deficit = totals - np.add.reduceat(values, seg_start)
    if (deficit < 0).any():  # cannot happen: sum(floor) <= sum(weight * rest) < rest
        raise AssertionError("minute volume distribution overshot the day total")
    values[remainder_at] += deficit
    return values


def _empty(columns: list[str]) -> pd.DataFrame:
    dtypes = {
        "ticker": "str",
        "volume": np.float64,
        "transactions": np.int64,
        "window_start": np.int64,
        "otc": bool,
    }
    return pd.DataFrame(
        {c: pd.Series([], dtype=dtypes.get(c, np.float64)) for c in columns}, columns=columns
    )


def _write_parquet_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write to a unique temporary name then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.to_parquet(tmp, index=False, row_group_size=100_000)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
