"""Deterministic randomness, ids, frames and time stamps shared by the market's generators."""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib

import numpy as np
import pandas as pd

from finance_pipeline.calendar import NEW_YORK

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


def rng(seed: int, purpose: str, ordinal: int | None = None) -> np.random.Generator:
    """A PCG64 generator that depends only on (seed, purpose[, ordinal])."""
    entropy = [seed, zlib.crc32(purpose.encode())] + ([] if ordinal is None else [ordinal])
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def event_id(seed: int, kind: str, ticker: str, day: dt.date) -> str:
    digest = hashlib.sha256(f"{seed}|{kind}|{ticker}|{day.isoformat()}".encode()).hexdigest()
    return "E" + digest


def ny_ns(day: dt.date, minutes_after_midnight: int = 0) -> int:
    """Unix ns of a New York wall-clock time on `day` (DST-aware)."""
    moment = dt.datetime.combine(day, dt.time(), tzinfo=NEW_YORK) + dt.timedelta(
        minutes=minutes_after_midnight
    )
    return int(pd.Timestamp(moment).value)


def weekday_on_or_before(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def weekday_on_or_after(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def empty_bars(columns: list[str]) -> pd.DataFrame:
    """A bar frame without rows, with the dtypes of a full one."""
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
