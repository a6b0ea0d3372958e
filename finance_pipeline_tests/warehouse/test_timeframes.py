"""Multi-timeframe views against the sandbox's per-ticker aggregates over HTTP (the official
client): minute bars fetched with multiplier 1 and stored in the lake, then every N-minute
view compared with the vendor's own N-minute aggregates of the same ticker and session."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest
from polygon import RESTClient

from finance_pipeline import schemas
from finance_pipeline.calendar import session_close, session_open
from finance_pipeline.lake import Lake
from finance_pipeline.registry import MINUTE_BARS, REST_FILLS
from finance_pipeline.warehouse import Warehouse
from finance_pipeline.warehouse.timeframes import MINUTES, view_names

HALF_DAY, FULL_DAY = dt.date(2024, 11, 29), dt.date(2024, 12, 2)
FIELDS = ("open", "high", "low", "close", "volume", "transactions")


def _rest(sandbox) -> RESTClient:
    return RESTClient(api_key=sandbox.api_key, base=sandbox.rest_url, retries=0)


def _vendor(client: RESTClient, ticker: str, minutes: int, day: dt.date) -> dict[int, dict]:
    """The vendor's N-minute bars of one ticker and session, by window start (Unix ms)."""
    bars = client.list_aggs(ticker, minutes, "minute", day, day, adjusted=False, limit=50000)
    return {bar.timestamp: vars(bar) for bar in bars}


def _minute_rows(client: RESTClient, ticker: str, day: dt.date) -> list[dict]:
    return [
        {
            "ticker": ticker,
            "session": day,
            "window_start": dt.datetime.fromtimestamp(t / 1000, dt.UTC),
            **{name: bar[name] for name in FIELDS},
            "vwap": bar["vwap"],
            "source": REST_FILLS,
        }
        for t, bar in sorted(_vendor(client, ticker, 1, day).items())
    ]


@pytest.fixture(scope="module")
def timeframes(sandbox, tmp_path_factory):
    root = tmp_path_factory.mktemp("timeframes-lake")
    lake, client = Lake(str(root)), _rest(sandbox)
    day_bars = sandbox.market.day_bars(FULL_DAY)
    tickers = day_bars.sort_values("volume", ascending=False)["ticker"].head(3).tolist()
    for day in (HALF_DAY, FULL_DAY):
        rows = [row for ticker in tickers for row in _minute_rows(client, ticker, day)]
        lake.write(MINUTE_BARS, day, pa.Table.from_pylist(rows, schema=schemas.CURATED_BARS))
    with Warehouse(str(root)) as warehouse:
        yield warehouse, client, tickers


def _view(warehouse: Warehouse, name: str, ticker: str, day: dt.date) -> dict[int, dict]:
    table = warehouse.query(
        f"SELECT *, epoch_ms(window_start) AS t FROM {name} WHERE ticker = ? AND session = ?",
        [ticker, day],
    )
    return {row["t"]: row for row in table.to_pylist()}


def _same(ours: dict, vendor: dict) -> bool:
    prices = all(math.isclose(ours[f], vendor[f], rel_tol=1e-12) for f in FIELDS)
    return prices and math.isclose(ours["vwap"], vendor["vwap"], rel_tol=1e-9)


def test_every_timeframe_view_exists(timeframes):
    warehouse, _, _ = timeframes
    assert set(view_names()) <= set(warehouse.views())
    assert len(view_names()) == 2 * len(MINUTES) == 8


@pytest.mark.parametrize("minutes", MINUTES)
@pytest.mark.parametrize("day", [HALF_DAY, FULL_DAY])
def test_extended_hours_views_equal_the_vendors_aggregates(timeframes, minutes, day):
    warehouse, client, tickers = timeframes
    for ticker in tickers:
        ours = _view(warehouse, f"{MINUTE_BARS}_{minutes}m", ticker, day)
        vendor = _vendor(client, ticker, minutes, day)
        assert ours.keys() == vendor.keys(), (ticker, minutes, day)
        assert all(_same(ours[t], vendor[t]) for t in vendor), (ticker, minutes, day)


@pytest.mark.parametrize("minutes", MINUTES)
@pytest.mark.parametrize("day", [HALF_DAY, FULL_DAY])
def test_regular_session_views_hold_the_regular_minutes_only(timeframes, minutes, day):
    """Windows wholly inside 09:30-close equal the vendor's; the hour bar starting 09:00 holds
    only 09:30-09:59; nothing at or after the close (13:00 on the half day)."""
    warehouse, client, tickers = timeframes
    open_ms = int(session_open(day).timestamp() * 1000)
    close_ms = int(session_close(day).timestamp() * 1000)
    width = minutes * 60_000
    for ticker in tickers:
        ours = _view(warehouse, f"{MINUTE_BARS}_{minutes}m_regular", ticker, day)
        vendor = _vendor(client, ticker, minutes, day)
        inside = {t for t in vendor if t >= open_ms and t + width <= close_ms}
        assert inside and inside <= ours.keys()
        assert all(_same(ours[t], vendor[t]) for t in inside), (ticker, minutes, day)
        assert max(ours) < close_ms and min(ours) >= open_ms - open_ms % width
        minute = _vendor(client, ticker, 1, day)
        regular = [minute[t] for t in sorted(minute) if open_ms <= t < close_ms]
        assert sum(row["minutes"] for row in ours.values()) == len(regular)
        first = ours[min(ours)]
        assert first["open"] == regular[0]["open"]
