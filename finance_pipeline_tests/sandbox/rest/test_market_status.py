"""Market status, upcoming holidays and the snapshot follow the sandbox clock."""

from __future__ import annotations

import datetime as dt

import pytest

from finance_pipeline_tests.sandbox.rest.support import (
    D,
    client,
)


def test_market_status_and_upcoming_holidays_follow_the_clock(fresh_sandbox):
    sb = fresh_sandbox(now=dt.datetime(2024, 11, 20, 17, tzinfo=dt.UTC))  # Wed 12:00 NY
    rest = client(sb)
    status = rest.get_market_status()
    assert (status.market, status.early_hours, status.after_hours) == ("open", False, False)
    assert status.exchanges.nyse == "open"
    holidays = rest.get_market_holidays()
    by_date = {(h.date, h.exchange): h for h in holidays}
    assert by_date[("2024-11-28", "NYSE")].status == "closed"
    early = by_date[("2024-11-29", "NASDAQ")]
    assert early.status == "early-close" and early.close == "2024-11-29T18:00:00.000Z"
    assert ("2025-01-09", "NYSE") in by_date and ("2024-12-25", "NYSE") in by_date
    assert all(h.date >= "2024-11-20" for h in holidays)
    sb.set_now(dt.datetime(2024, 11, 20, 13, tzinfo=dt.UTC))  # 08:00 NY
    status = rest.get_market_status()
    assert (status.market, status.early_hours) == ("extended-hours", True)
    sb.set_now(dt.datetime(2024, 11, 28, 17, tzinfo=dt.UTC))  # Thanksgiving
    assert rest.get_market_status().market == "closed"
    assert "2024-11-28" in {h.date for h in rest.get_market_holidays()}  # today still listed
    sb.advance(dt.timedelta(days=1))
    assert "2024-11-28" not in {h.date for h in rest.get_market_holidays()}


def test_snapshot_is_today_so_far(fresh_sandbox):
    now = dt.datetime(2025, 1, 30, 20, 0, tzinfo=dt.UTC)  # 15:00 New York
    sb = fresh_sandbox(now=now)
    snaps = {s.ticker: s for s in client(sb).get_snapshot_all("stocks")}
    assert snaps and not any(
        t in snaps for t in sb.market.listings().query("market == 'otc'").ticker
    )
    aapl = snaps["AAPL"]
    minutes = sb.market.minute_bars(D("2025-01-30"), ["AAPL"])
    done = minutes[minutes["window_start"] + 60_000_000_000 <= int(now.timestamp() * 1e9)]
    assert aapl.day.volume == pytest.approx(done["volume"].sum())
    assert aapl.min.timestamp == done["window_start"].iloc[-1] // 1_000_000
    previous = sb.market.day_bars(D("2025-01-29")).set_index("ticker").loc["AAPL"]
    assert aapl.prev_day.close == previous["close"]
    assert aapl.todays_change == pytest.approx(aapl.day.close - previous["close"])
    some = client(sb).get_snapshot_all("stocks", tickers=["AAPL", "NVDA"])
    assert sorted(s.ticker for s in some) == ["AAPL", "NVDA"]
