"""The fixed parameters of the synthetic market: special tickers, real splits, per-type price
and liquidity profiles, exchanges and the words company names are made of."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

WATCHLIST_TICKERS = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY")
SPECIAL_TICKERS = (*WATCHLIST_TICKERS, "BRK.A", "BRK.B", "KIMpL", "NA", "ZVZZT")
# Never generated: the specials, other exchange test symbols, and strings CSV readers mangle.
RESERVED = frozenset({*SPECIAL_TICKERS, "ZWZZT", "ZXZZT", "NULL", "NAN", "NONE", "TRUE"})

TYPES = ("CS", "ETF", "ADRC", "PFD", "WARRANT")
MIN_PRICE = 0.0001


@dataclass(frozen=True)
class Special:
    name: str
    type: str
    exchange: str
    level: float  # raw price at the start of the range
    sigma: float  # daily log volatility
    trades: float  # median daily transactions
    size: float  # median shares per trade
    dividend: float  # quarterly cash per share at the start of the range (0: none)


SPECIALS: dict[str, Special] = {
    "AAPL": Special("Apple Inc.", "CS", "XNAS", 185.0, 0.016, 700_000, 90, 0.24),
    "MSFT": Special("Microsoft Corp", "CS", "XNAS", 400.0, 0.015, 450_000, 60, 0.75),
    "NVDA": Special("Nvidia Corp", "CS", "XNAS", 480.0, 0.030, 1_200_000, 120, 0.04),
    "TSLA": Special("Tesla, Inc. Common Stock", "CS", "XNAS", 240.0, 0.035, 900_000, 110, 0.0),
    "SPY": Special("SPDR S&P 500 ETF Trust", "ETF", "ARCX", 480.0, 0.009, 600_000, 120, 1.7),
    "BRK.A": Special(
        "Berkshire Hathaway Inc. Class A", "CS", "XNYS", 600_000.0, 0.010, 2_500, 1.3, 0.0
    ),
    "BRK.B": Special(
        "Berkshire Hathaway Inc. Class B", "CS", "XNYS", 400.0, 0.010, 60_000, 70, 0.0
    ),
    "KIMpL": Special(
        "Kimco Realty Corp Class L Preferred", "PFD", "XNYS", 22.0, 0.006, 150, 80, 0.3125
    ),
    "NA": Special("Nano Labs Ltd Class A Ordinary Shares", "CS", "XNAS", 1.8, 0.045, 400, 300, 0.0),
    "ZVZZT": Special("NASDAQ TEST STOCK", "CS", "XNAS", 10.0, 0.010, 20, 100, 0.0),
}

# Real splits of watchlist names, used when they fall inside the range.
REAL_SPLITS: tuple[tuple[str, dt.date, float, float], ...] = (
    ("AAPL", dt.date(2014, 6, 9), 1.0, 7.0),
    ("AAPL", dt.date(2020, 8, 31), 1.0, 4.0),
    ("TSLA", dt.date(2020, 8, 31), 1.0, 5.0),
    ("TSLA", dt.date(2022, 8, 25), 1.0, 3.0),
    ("NVDA", dt.date(2021, 7, 20), 1.0, 4.0),
    ("NVDA", dt.date(2024, 6, 10), 1.0, 10.0),
)

# Per generated type: (median level, level spread, level clip, daily sigma, median trades,
# trades spread, probability of trading on a listed session).
TYPE_PARAMS: dict[str, tuple[float, float, tuple[float, float], float, float, float, float]] = {
    "CS": (25.0, 1.1, (0.5, 1500.0), 0.022, 220.0, 1.9, 1.0),
    "ETF": (40.0, 0.8, (5.0, 700.0), 0.010, 90.0, 2.0, 1.0),
    "ADRC": (15.0, 1.0, (0.5, 400.0), 0.020, 70.0, 1.8, 1.0),
    "PFD": (22.0, 0.2, (10.0, 30.0), 0.006, 30.0, 1.2, 1.0),
    "WARRANT": (0.6, 1.0, (0.05, 5.0), 0.060, 15.0, 1.3, 0.6),
    "OTC": (2.0, 1.5, (0.02, 200.0), 0.040, 12.0, 1.6, 0.85),
}
EXCHANGES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "CS": (("XNAS", "XNYS", "XASE", "BATS"), (0.55, 0.35, 0.06, 0.04)),
    "ETF": (("ARCX", "BATS", "XNAS"), (0.7, 0.2, 0.1)),
    "ADRC": (("XNYS", "XNAS"), (0.5, 0.5)),
    "PFD": (("XNYS",), (1.0,)),
    "WARRANT": (("XNAS", "XNYS"), (0.8, 0.2)),
}
NAME_SUFFIXES = {
    "CS": "Inc.",
    "ETF": "Select ETF",
    "ADRC": "Ltd ADR",
    "PFD": "Corp. Series A Preferred",
    "WARRANT": "Acquisition Corp. Warrant",
}
# Share of listings of each type that pay a quarterly dividend.
DIVIDEND_SHARE = {"CS": 0.25, "ETF": 0.6, "ADRC": 0.2, "PFD": 1.0, "WARRANT": 0.0}
# fmt: off
WORDS = (
    "Acme", "Apex", "Arbor", "Atlas", "Beacon", "Birch", "Bold", "Cedar", "Cobalt", "Crest",
    "Delta", "Echo", "Ember", "Falcon", "Fir", "Forge", "Granite", "Harbor", "Helix", "Horizon",
    "Iron", "Juniper", "Keystone", "Lumen", "Maple", "Meridian", "Nova", "Oak", "Orion", "Pine",
    "Prairie", "Quarry", "Raven", "Ridge", "Sable", "Sierra", "Summit", "Terra", "Titan", "Union",
    "Vector", "Vista", "Willow", "Zenith",
)
SECTORS = (
    "Bancorp", "Biotech", "Energy", "Foods", "Logistics", "Materials", "Medical", "Mining",
    "Realty", "Software",
)
# fmt: on
FIGI_CHARS = np.array(list("BCDFGHJKLMNPQRSTVWXYZ0123456789"))
