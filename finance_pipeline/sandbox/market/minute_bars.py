"""Minute bars generated inside their day bar, so the day/minute rule holds exactly.

A minute has a bar with probability 1 - exp(-trades * profile) (dense regular hours for liquid
names, sparse extended hours); prices walk to the day open over the pre-market bars, bridge from
the open to the close over the regular bars and walk from the close after hours; the day's
volume and trades are distributed over the bars, the day's extremes pinned to the bars closest
to them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from finance_pipeline.calendar import NEW_YORK, session_close, session_open
from finance_pipeline.sandbox.market.day_bars import DayArrays
from finance_pipeline.sandbox.market.seeding import MINUTE_COLUMNS, empty_bars, ny_ns, rng

FIRST_MINUTE_HOUR = 4  # minute bars start 04:00 New York
EXTENDED_END_MINUTES = 16 * 60  # 04:00 + 16 h = 20:00
HALF_DAY_END_MINUTES = 13 * 60  # 04:00 + 13 h = 17:00 (our choice for half days)


def generate_minutes(
    seed: int, session: dt.date, day: DayArrays, symbols: np.ndarray
) -> pd.DataFrame:
    """The session's minute bars of every ticker with a day bar, sorted by (ticker, minute)."""
    if len(day.idx) == 0:
        return empty_bars(MINUTE_COLUMNS)
    day_start = dt.datetime.combine(session, dt.time(FIRST_MINUTE_HOUR), tzinfo=NEW_YORK)
    reg_open = int((session_open(session) - day_start).total_seconds() // 60)
    reg_close = int((session_close(session) - day_start).total_seconds() // 60)
    half_day = reg_close < 12 * 60  # regular close before 16:00
    width = HALF_DAY_END_MINUTES if half_day else EXTENDED_END_MINUTES
    profile = _intraday_profile(width, reg_open, reg_close)

    draws = rng(seed, "minute", session.toordinal())
    mask = _bar_mask(draws, day.minute_trades, profile, reg_open, reg_close)
    rows, minutes = np.nonzero(mask)  # row-major: sorted by ticker, then minute
    count = mask.sum(axis=1)
    n_pre = mask[:, :reg_open].sum(axis=1)
    n_reg = mask[:, reg_open:reg_close].sum(axis=1)
    seg_start = np.concatenate([[0], np.cumsum(count)[:-1]])

    points = _price_points(draws, day, count, n_pre, n_reg)
    bars = _ohlc(draws, day, points, rows, n_reg, seg_start)
    # Split the day's volume and trades over the bars: at least 1 each, remainder at the open.
    z_weight = bars.pop("z_weight")
    weight = profile[minutes] * np.exp(0.5 * z_weight)
    weight /= np.add.reduceat(weight, seg_start)[rows]
    first_regular_bar = seg_start + n_pre
    volume = _distribute(weight, rows, seg_start, first_regular_bar, day.minute_volume, count)
    trades = _distribute(weight, rows, seg_start, first_regular_bar, day.minute_trades, count)

    base = ny_ns(session, FIRST_MINUTE_HOUR * 60)
    return pd.DataFrame(
        {
            "ticker": symbols[day.idx][rows],
            **bars,
            "volume": volume.astype(np.float64),
            "vwap": np.round((bars["open"] + bars["high"] + bars["low"] + bars["close"]) / 4.0, 4),
            "transactions": trades,
            "window_start": base + minutes.astype(np.int64) * 60_000_000_000,
        },
        columns=MINUTE_COLUMNS,
    )


def _ohlc(
    draws: np.random.Generator,
    day: DayArrays,
    points: np.ndarray,
    rows: np.ndarray,
    n_reg: np.ndarray,
    seg_start: np.ndarray,
) -> dict[str, np.ndarray]:
    """open/high/low/close per bar (bar j of a ticker spans points j and j+1), wicks inside
    the day's range, plus the normal draws that weight the bars' volume ("z_weight")."""
    bar_point = np.arange(len(rows)) + rows
    bar_open, bar_close = points[bar_point], points[bar_point + 1]
    h, lo = day.high[rows], day.low[rows]
    wick = ((day.high - day.low) / (8.0 * np.sqrt(n_reg)))[rows]
    z_high, z_low, z_weight = draws.standard_normal((3, len(rows)))
    bar_high = np.round(np.minimum(np.maximum(bar_open, bar_close) + np.abs(z_high) * wick, h), 4)
    bar_low = np.round(np.maximum(np.minimum(bar_open, bar_close) - np.abs(z_low) * wick, lo), 4)
    # Pin the day's extremes to the bars closest to them.
    bar_high = np.where(bar_high == np.maximum.reduceat(bar_high, seg_start)[rows], h, bar_high)
    bar_low = np.where(bar_low == np.minimum.reduceat(bar_low, seg_start)[rows], lo, bar_low)
    return {
        "open": bar_open,
        "high": bar_high,
        "low": bar_low,
        "close": bar_close,
        "z_weight": z_weight,
    }


def _bar_mask(
    draws: np.random.Generator,
    trades: np.ndarray,
    profile: np.ndarray,
    reg_open: int,
    reg_close: int,
) -> np.ndarray:
    """Which minutes have a bar, per ticker (tickers x minutes). A minute has a bar when at
    least one of the day's trades fell in it (Poisson); every ticker gets a regular-hours bar
    and never more bars than trades."""
    uniform = draws.random((len(trades), len(profile)))
    mask = uniform > np.exp(-trades[:, None].astype(np.float64) * profile[None, :])
    no_regular = ~mask[:, reg_open:reg_close].any(axis=1)
    mask[no_regular, reg_open] = True
    excess = np.flatnonzero(mask.sum(axis=1) > trades)
    if len(excess):  # drop random extra bars, keeping the first regular one
        keys = np.where(mask[excess], draws.random((len(excess), len(profile))), np.inf)
        first_regular = reg_open + np.argmax(mask[excess, reg_open:reg_close], axis=1)
        keys[np.arange(len(excess)), first_regular] = -1.0
        rank = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
        mask[excess] &= rank < trades[excess, None]
    return mask


def _price_points(
    draws: np.random.Generator,
    day: DayArrays,
    count: np.ndarray,
    n_pre: np.ndarray,
    n_reg: np.ndarray,
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
    z = draws.standard_normal(len(row))
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
