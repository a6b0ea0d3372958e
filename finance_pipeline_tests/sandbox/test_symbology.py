"""The opt-in symbology market over HTTP with the official client: renames (one dated on a
non-session), a reused ticker and missing identifiers."""

from __future__ import annotations

import datetime as dt

from finance_pipeline.calendar import sessions_between
from finance_pipeline.sandbox import Sandbox
from finance_pipeline_tests.sandbox.rest.support import client, get


def _traded(sb: Sandbox, ticker: str) -> list[dt.date]:
    bars = client(sb).list_aggs(ticker, 1, "day", sb.start, sb.end, limit=50000)
    return [dt.datetime.fromtimestamp(b.timestamp / 1000, dt.UTC).date() for b in bars]


def test_a_rename_moves_the_series_to_the_new_ticker_on_its_session(symbology_sandbox) -> None:
    sb = symbology_sandbox
    first, second = sb.market.renames
    assert first.event_date.weekday() == 5  # dated on a Saturday, like FB -> META
    assert second.event_date == second.session
    for rename in (first, second):
        old, new = _traded(sb, rename.old), _traded(sb, rename.new)
        assert old and new and max(old) < rename.session <= min(new)
        assert sorted(old + new) == sessions_between(sb.start, sb.end)
        before = list(client(sb).list_tickers(date=str(rename.session - dt.timedelta(1))))
        after = list(client(sb).list_tickers(date=str(rename.session)))
        was = {t.ticker: t for t in before}[rename.old]
        now = {t.ticker: t for t in after}[rename.new]
        assert rename.old not in {t.ticker for t in after}
        assert (was.share_class_figi, was.cik) == (now.share_class_figi, now.cik)
        assert was.composite_figi == now.composite_figi
        assert was.name != now.name
    assert first_figi(sb, first.new) is not None and first_figi(sb, second.new) is None


def first_figi(sb: Sandbox, ticker: str) -> str | None:
    rows = list(client(sb).list_tickers(ticker=ticker, date=str(sb.end)))
    return rows[0].composite_figi


def test_ticker_events_list_every_ticker_of_the_company_newest_first(symbology_sandbox) -> None:
    sb = symbology_sandbox
    rename = sb.market.renames[0]
    events = client(sb).get_ticker_events(rename.new, types="ticker_change")
    assert [e["ticker_change"]["ticker"] for e in events.events] == [rename.new, rename.old]
    assert events.events[0]["date"] == rename.event_date.isoformat()
    assert events.composite_figi == first_figi(sb, rename.new) and events.cik
    by_figi = client(sb).get_ticker_events(events.composite_figi)
    assert by_figi.events == events.events
    status, body, _ = get(sb, "/vX/reference/tickers/NOSUCH/events")
    assert status == 404 and body["status"] == "NOT_FOUND"
    status, body, _ = get(sb, f"/vX/reference/tickers/{rename.new}/events", types="splits")
    assert status == 400 and "ticker_change" in body["error"]


def test_a_reused_ticker_belongs_to_two_companies_with_a_gap(symbology_sandbox) -> None:
    sb = symbology_sandbox
    (reuse,) = sb.market.reuses
    traded = _traded(sb, reuse.ticker)
    gap = [s for s in sessions_between(sb.start, sb.end) if reuse.delisted <= s < reuse.relisted]
    assert gap and not set(gap) & set(traded)
    assert min(traded) < reuse.delisted and max(traded) >= reuse.relisted
    before = {t.ticker: t for t in client(sb).list_tickers(date=str(reuse.delisted), active=False)}
    after = {t.ticker: t for t in client(sb).list_tickers(date=str(reuse.relisted))}
    old, new = before[reuse.ticker], after[reuse.ticker]
    assert old.composite_figi != new.composite_figi and old.cik != new.cik
    assert old.name != new.name and not old.active and new.active


def test_some_rows_lack_figis_or_cik_as_on_the_real_service(symbology_sandbox) -> None:
    listings = symbology_sandbox.market.listings()
    assert listings["composite_figi"].isna().sum() >= 2 + 3  # rename #2's rows and 3 others
    assert listings["share_class_figi"].isna().sum() == 2
    bare = listings[listings[["composite_figi", "share_class_figi", "cik"]].isna().all(axis=1)]
    assert len(bare) == 1
    status, body, _ = get(symbology_sandbox, "/v3/reference/tickers", ticker=bare.iloc[0].ticker)
    assert status == 200 and not {"cik", "composite_figi"} & set(body["results"][0])


def test_symbology_leaves_every_other_listing_unchanged() -> None:
    from finance_pipeline.sandbox.market import Market

    start, end = dt.date(2024, 11, 1), dt.date(2024, 12, 31)
    plain, marked = Market(start=start, end=end), Market(start=start, end=end, symbology=True)
    involved = {r.old for r in marked.renames} | {r.new for r in marked.renames}
    involved |= {marked.symbols[r.second] for r in marked.reuses}
    involved |= {r.ticker for r in marked.reuses}
    for day in (plain.sessions[0], plain.sessions[-1]):
        a, b = plain.day_bars(day), marked.day_bars(day)
        a = a[~a["ticker"].isin(involved)].reset_index(drop=True)
        b = b[~b["ticker"].isin(involved)].reset_index(drop=True)
        assert len(a) > 250
        assert a.equals(b)
    assert plain.splits().equals(marked.splits())
    assert plain.dividends().equals(marked.dividends())
