import datetime as dt
import math

import pandas as pd
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.assets import dividends, splits
from finance_pipeline.assets.corporate_actions import assign_sessions, fetch_window
from finance_pipeline.calendar import sessions_between
from finance_pipeline_tests.assets.support import (
    read_partition,
    run,
    run_totals_of,
    sandbox_resources,
    session_metadata_of,
    stored_sessions,
)

FIRST, LAST = dt.date(2024, 11, 1), dt.date(2025, 1, 31)


def stored(lake, dataset: str, sessions: list[dt.date]) -> pd.DataFrame:
    tables = [read_partition(lake, dataset, s) for s in sessions]
    for table in tables:
        assert table.schema.equals(schemas.DATASETS[dataset])
    return pa.concat_tables(tables).to_pandas()


def test_a_range_run_fetches_once_and_writes_every_session(sandbox, tmp_path):
    sessions = sessions_between(FIRST, LAST)
    before = sandbox.counters.rest_requests.copy()
    result = run([splits, dividends], sandbox_resources(sandbox, tmp_path), sessions=(FIRST, LAST))
    calls = sandbox.counters.rest_requests - before

    keys = [s.isoformat() for s in sessions]
    assert stored_sessions(tmp_path, "splits") == keys
    assert stored_sessions(tmp_path, "dividends") == keys

    market_splits = sandbox.market.splits()
    unique_splits = market_splits.drop_duplicates(["ticker", "execution_date"])
    got = stored(tmp_path, "splits", sessions)
    assert got["id"].notna().all() and got["historical_adjustment_factor"].gt(0).all()
    assert set(got["adjustment_type"]) <= {"forward_split", "reverse_split"}
    assert sorted(zip(got["ticker"], got["execution_date"], strict=True)) == sorted(
        zip(unique_splits["ticker"], unique_splits["execution_date"], strict=True)
    )
    # Each event sits in the partition of its own date.
    for row in unique_splits.itertuples():
        day = read_partition(tmp_path, "splits", row.execution_date).to_pandas()
        assert row.ticker in set(day["ticker"])

    market_dividends = sandbox.market.dividends()
    got = stored(tmp_path, "dividends", sessions)
    assert len(got) == len(market_dividends.drop_duplicates(["ticker", "ex_dividend_date"]))
    assert got["cash_amount"].sum() == market_dividends["cash_amount"].sum()
    assert got["distribution_type"].notna().all() and got["dividend_type"].isna().all()
    assert got["split_adjusted_cash_amount"].gt(0).all()

    split_meta = run_totals_of(result, "splits")
    assert split_meta["api_calls"] == calls["v1_splits"] == math.ceil(len(unique_splits) / 1000)
    assert calls["v3_splits"] == calls["v3_dividends"] == 0
    assert split_meta["endpoint"] == "/stocks/v1/splits" and split_meta["v1_refused"] == "no"
    assert split_meta["calls_saved"] == len(sessions) - calls["v1_splits"]
    # Each session carries its own events, never the run's totals.
    per_session = session_metadata_of(result, "splits")
    assert sorted(per_session) == keys
    stored_splits = stored(tmp_path, "splits", sessions)
    for key, meta in per_session.items():
        own = stored_splits[stored_splits["session"].astype(str) == key]
        assert meta["dagster/row_count"] == len(own) and meta["partitions_written"] == 1
        assert "api_calls" not in meta and "duplicates_dropped" not in meta
    dividend_meta = run_totals_of(result, "dividends")
    assert dividend_meta["api_calls"] == calls["v1_dividends"] == 1
    assert dividend_meta["dagster/row_count"] == len(got)
    dividend_rows = session_metadata_of(result, "dividends")
    assert sum(meta["dagster/row_count"] for meta in dividend_rows.values()) == len(got)


def test_a_single_session_run_writes_that_session_even_when_empty(sandbox, tmp_path):
    quiet = dt.date(2025, 1, 2)
    assert quiet not in set(sandbox.market.splits()["execution_date"])
    run([splits], sandbox_resources(sandbox, tmp_path), session=quiet)
    assert stored_sessions(tmp_path, "splits") == [quiet.isoformat()]
    assert read_partition(tmp_path, "splits", quiet).num_rows == 0


def test_events_on_non_session_days_belong_to_the_next_session():
    sessions = [dt.date(2025, 1, 6), dt.date(2025, 1, 7)]  # Monday, Tuesday
    start, end = fetch_window(sessions)
    assert (start, end) == (dt.date(2025, 1, 4), dt.date(2025, 1, 7))  # from Saturday
    dates = pd.Series([dt.date(2025, 1, 4), dt.date(2025, 1, 5), dt.date(2025, 1, 7)])
    assert assign_sessions(dates, sessions).tolist() == [sessions[0], sessions[0], sessions[1]]


def test_v3_serves_only_when_v1_is_refused_and_the_metadata_says_so(fresh_sandbox, tmp_path):
    sb = fresh_sandbox()
    sb.faults.remove_endpoint("v1_splits")
    sessions = sessions_between(FIRST, LAST)
    result = run([splits], sandbox_resources(sb, tmp_path), sessions=(FIRST, LAST))
    meta = run_totals_of(result, "splits")
    assert meta["endpoint"] == "/v3/reference/splits"
    assert "404" in meta["v1_refused"]
    market_splits = sb.market.splits()
    unique = market_splits.drop_duplicates(["ticker", "execution_date"])
    assert meta["duplicates_dropped"] == len(market_splits) - len(unique) > 0
    got = stored(tmp_path, "splits", sessions)
    assert len(got) == len(unique) and got["id"].isna().all()  # recorded v3 rows have no id


def test_deduplication_without_ids_does_not_depend_on_row_order():
    from finance_pipeline.assets.corporate_actions import normalize_actions

    rows = pd.DataFrame(
        {
            "ticker": ["A", "A", "B"],
            "execution_date": ["2025-01-06"] * 3,
            "split_from": [1.0, 1.0, 1.0],
            "split_to": [4.0, 2.0, 3.0],
        }
    )
    kept = [
        normalize_actions(frame, "execution_date", schemas.SPLITS, ("execution_date",))
        for frame in (rows, rows.iloc[::-1])
    ]
    assert kept[0][0].equals(kept[1][0]) and kept[0][1] == 1
    assert kept[0][0]["split_to"].tolist() == [2.0, 3.0]
