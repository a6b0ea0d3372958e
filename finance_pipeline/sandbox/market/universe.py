"""The market's universe: symbols, reference attributes, listing history and the per-ticker
parameters the price model uses, drawn from one generator in a fixed order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from finance_pipeline.sandbox.market.profiles import (
    EXCHANGES,
    FIGI_CHARS,
    NAME_SUFFIXES,
    RESERVED,
    SECTORS,
    SPECIAL_TICKERS,
    SPECIALS,
    TYPE_PARAMS,
    TYPES,
    WORDS,
)
from finance_pipeline.sandbox.market.seeding import weekday_on_or_before

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


@dataclass
class Universe:
    """Per-listing arrays in universe order (= sorted by ticker). `level` is mutable: the
    split generator moves the start level of the names it splits."""

    symbols: np.ndarray
    ticker_index: dict[str, int]
    special: np.ndarray  # bool
    types: np.ndarray
    is_otc: np.ndarray
    exchange: np.ndarray
    names: np.ndarray
    cik: np.ndarray
    composite: np.ndarray
    share_class: np.ndarray
    list_date: np.ndarray  # dt.date
    delisted_date: np.ndarray  # dt.date or None
    list_k: np.ndarray  # first trading session index
    delist_k: np.ndarray  # first session index it no longer trades (len(sessions): never)
    level: np.ndarray
    sigma: np.ndarray
    trades: np.ndarray
    size: np.ndarray
    p_trade: np.ndarray


def build_universe(
    rng: np.random.Generator, tickers: int, sessions: list[dt.date], start: dt.date
) -> Universe:
    """`tickers` listings (the specials included); draws from `rng`, which the corporate
    actions then consume further."""
    generated = _generate_symbols(rng, tickers - len(SPECIAL_TICKERS))
    symbols = sorted([*SPECIAL_TICKERS, *generated])
    n = len(symbols)
    special = np.array([s in SPECIALS for s in symbols])
    is_otc, types, exchange = _kinds(rng, n)
    level, sigma, trades, p_trade, size = _trading_params(rng, np.where(is_otc, "OTC", types))
    names = _company_names(rng, types)
    cik = np.array([f"{v:010d}" for v in rng.integers(1_000_000, 2_100_000, size=n)], dtype=object)
    cik[is_otc & (rng.random(n) < 0.5)] = None
    figi = FIGI_CHARS[rng.integers(0, len(FIGI_CHARS), size=(n, 18))]
    universe = Universe(
        symbols=np.array(symbols, dtype=object),
        ticker_index={symbol: i for i, symbol in enumerate(symbols)},
        special=special,
        types=types,
        is_otc=is_otc,
        exchange=exchange,
        names=names,
        cik=cik,
        composite=np.array(["BBG00" + "".join(r[:7]) for r in figi], dtype=object),
        share_class=np.array(["BBG00" + "".join(r[7:14]) for r in figi], dtype=object),
        level=level,
        sigma=sigma,
        trades=trades,
        size=size,
        p_trade=p_trade,
        **_listing_history(rng, special, sessions, start, tickers),
    )
    _fix_specials(universe, len(sessions), start)
    return universe


def _generate_symbols(rng: np.random.Generator, count: int) -> list[str]:
    """`count` unique uppercase symbols of 1-5 letters, none reserved."""
    chosen: dict[str, None] = {}
    while len(chosen) < count:
        batch = max(64, 2 * (count - len(chosen)))
        lengths = rng.choice(np.arange(1, 6), size=batch, p=[0.005, 0.045, 0.35, 0.52, 0.08])
        letters = rng.integers(ord("A"), ord("Z") + 1, size=(batch, 5), dtype=np.uint8)
        for row, length in zip(letters, lengths, strict=True):
            symbol = row[:length].tobytes().decode()
            if symbol in RESERVED or "TEST" in symbol or symbol in chosen:
                continue
            chosen[symbol] = None
            if len(chosen) == count:
                break
    return list(chosen)


def _kinds(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(is_otc, type, primary exchange) of every listing; specials are overridden later."""
    is_otc = rng.random(n) < 0.08
    types = rng.choice(np.array(TYPES), size=n, p=[0.72, 0.14, 0.05, 0.04, 0.05])
    types = np.where(is_otc & ~np.isin(types, ["CS", "ADRC"]), "CS", types).astype(object)
    exchange = np.empty(n, dtype=object)
    for kind, (venues, weights) in EXCHANGES.items():
        exchange[types == kind] = rng.choice(np.array(venues), size=n, p=weights)[types == kind]
    exchange[is_otc] = "OTCM"
    return is_otc, types, exchange


def _trading_params(
    rng: np.random.Generator, param_key: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(start level, daily sigma, median trades, probability of trading, shares per trade)."""
    n = len(param_key)
    level, sigma, trades, p_trade = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    z_level, z_trades = rng.standard_normal(n), rng.standard_normal(n)
    for key, (med, spread, (lo, hi), vol, med_trades, t_spread, prob) in TYPE_PARAMS.items():
        mask = param_key == key
        level[mask] = np.clip(med * np.exp(spread * z_level[mask]), lo, hi)
        sigma[mask] = vol
        trades[mask] = np.clip(med_trades * np.exp(t_spread * z_trades[mask]), 2, 2e6)
        p_trade[mask] = prob
    sigma *= np.exp(0.25 * rng.standard_normal(n))
    # Shares per trade: bigger for cheap stocks.
    size = np.clip(120 * np.exp(0.4 * rng.standard_normal(n)) * (30.0 / level) ** 0.3, 1.2, 20_000)
    return level, sigma, trades, p_trade, size


def _company_names(rng: np.random.Generator, types: np.ndarray) -> np.ndarray:
    word = rng.integers(0, len(WORDS), size=len(types))
    sector = rng.integers(0, len(SECTORS), size=len(types))
    names = [
        f"{WORDS[w]} {SECTORS[x]} {NAME_SUFFIXES[kind]}"
        for w, x, kind in zip(word, sector, types, strict=True)
    ]
    return np.array(names, dtype=object)


def _listing_history(
    rng: np.random.Generator,
    special: np.ndarray,
    sessions: list[dt.date],
    start: dt.date,
    tickers: int,
) -> dict[str, np.ndarray]:
    """list_date, list_k, delist_k and delisted_date per listing. Most were listed long
    before the range; some IPOs and delistings fall inside it (never for the specials)."""
    n, n_sessions = len(special), len(sessions)
    days_before = rng.integers(30, 9000, size=n)
    list_date = np.array(
        [weekday_on_or_before(start - dt.timedelta(days=int(d))) for d in days_before],
        dtype=object,
    )
    list_k = np.zeros(n, dtype=np.int64)
    delist_k = np.full(n, n_sessions, dtype=np.int64)
    order = rng.permutation(np.flatnonzero(~special))
    rate = min(0.2, 0.01 + 0.02 * n_sessions / 252.0)
    n_events = max(1 if tickers >= 50 else 0, round(len(order) * rate))
    if n_sessions >= 3 and len(order) >= 2 * n_events:
        ipos, delists = order[:n_events], order[n_events : 2 * n_events]
        list_k[ipos] = rng.integers(1, n_sessions - 1, size=len(ipos))
        for i in ipos:
            list_date[i] = sessions[list_k[i]]
        # A quarter of the IPOs are delisted too, after at least one session of trading.
        delists = np.concatenate([delists, ipos[: len(ipos) // 4]])
        low = list_k[delists] + 1
        delist_k[delists] = low + (rng.random(len(delists)) * (n_sessions - low)).astype(np.int64)
    delisted_date = np.array(
        [sessions[k] if k < n_sessions else None for k in delist_k], dtype=object
    )
    return {
        "list_date": list_date,
        "list_k": list_k,
        "delist_k": delist_k,
        "delisted_date": delisted_date,
    }


def _fix_specials(universe: Universe, n_sessions: int, start: dt.date) -> None:
    """Specials: fixed attributes, listed for the whole range."""
    u = universe
    for symbol, spec in SPECIALS.items():
        i = u.ticker_index[symbol]
        u.types[i], u.exchange[i], u.names[i] = spec.type, spec.exchange, spec.name
        u.is_otc[i] = False
        u.level[i], u.sigma[i], u.trades[i], u.size[i] = (
            spec.level,
            spec.sigma,
            spec.trades,
            spec.size,
        )
        u.p_trade[i] = 1.0
        u.list_k[i], u.delist_k[i], u.delisted_date[i] = 0, n_sessions, None
        u.list_date[i] = weekday_on_or_before(start - dt.timedelta(days=3000))


def listings_frame(universe: Universe) -> pd.DataFrame:
    """One row per listing: ticker, name, market ("stocks"|"otc"), locale ("us"),
    primary_exchange (XNYS, XNAS, ARCX, BATS, OTCM...), type (CS, ETF, ADRC, PFD, WARRANT),
    currency_name ("usd"), cik, composite_figi, share_class_figi, list_date (date),
    delisted_date (date or None: first date it no longer trades)."""
    u = universe
    n = len(u.symbols)
    return pd.DataFrame(
        {
            "ticker": u.symbols,
            "name": u.names,
            "market": np.where(u.is_otc, "otc", "stocks"),
            "locale": np.full(n, "us"),
            "primary_exchange": u.exchange,
            "type": u.types,
            "currency_name": np.full(n, "usd"),
            "cik": pd.Series(u.cik, dtype=object),  # None stays None, not NaN
            "composite_figi": u.composite,
            "share_class_figi": u.share_class,
            "list_date": u.list_date,
            "delisted_date": u.delisted_date,
        },
        columns=LISTING_COLUMNS,
    )


def tickers_as_of(universe: Universe, day: dt.date, active: bool) -> pd.DataFrame:
    """Point-in-time reference tickers (see `Market.tickers_as_of`)."""
    frame = listings_frame(universe)
    listed = np.array([d <= day for d in universe.list_date])
    gone = np.array([d is not None and d <= day for d in universe.delisted_date])
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
