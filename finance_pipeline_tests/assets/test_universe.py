import datetime as dt
import math

import pandas as pd

from finance_pipeline import schemas
from finance_pipeline.assets import universe_snapshot
from finance_pipeline.assets.universe import normalize_universe
from finance_pipeline_tests.assets.support import (
    metadata_of,
    read_partition,
    run,
    sandbox_resources,
)

SESSION = dt.date(2025, 1, 15)


def expected_universe(sb, session: dt.date) -> pd.DataFrame:
    frames = [sb.market.tickers_as_of(session, active) for active in (True, False)]
    frame = pd.concat(frames, ignore_index=True)
    return frame[frame["market"] == "stocks"]  # the asset asks for market=stocks


def test_universe_holds_active_and_delisted_tickers_as_of_the_session(sandbox, tmp_path):
    before = sandbox.counters.rest_requests["tickers"]
    result = run([universe_snapshot], sandbox_resources(sandbox, tmp_path), session=SESSION)

    table = read_partition(tmp_path, "universe_snapshot", SESSION)
    assert table.schema.equals(schemas.UNIVERSE_SNAPSHOT)
    expected = expected_universe(sandbox, SESSION)
    got = table.to_pandas()
    assert sorted(got["ticker"]) == sorted(expected["ticker"])
    inactive = got[~got["active"]]
    assert sorted(inactive["ticker"]) == sorted(expected.loc[~expected["active"], "ticker"])
    assert len(inactive) > 0 and inactive["delisted_utc"].notna().all()
    assert got.loc[got["active"], "delisted_utc"].isna().all()
    assert set(got["session"]) == {SESSION}
    assert {"BRK.A", "NA"} <= set(got["ticker"])  # tickers that break naive parsing

    metadata = metadata_of(result, "universe_snapshot")
    calls = sandbox.counters.rest_requests["tickers"] - before
    assert metadata["api_calls"] == calls == 2  # one page per status
    assert metadata["dagster/row_count"] == len(expected)
    assert metadata["active_tickers"] == int(expected["active"].sum())


def test_universe_pages_through_1000_rows_per_call(fresh_sandbox, tmp_path):
    sb = fresh_sandbox(tickers=2500, start=dt.date(2025, 1, 13), end=dt.date(2025, 1, 17))
    result = run([universe_snapshot], sandbox_resources(sb, tmp_path), session=SESSION)
    expected = expected_universe(sb, SESSION)
    table = read_partition(tmp_path, "universe_snapshot", SESSION)
    assert table.num_rows == len(expected) > 2000
    per_status = [int(expected["active"].sum()), int((~expected["active"]).sum())]
    pages = sum(max(1, math.ceil(n / 1000)) for n in per_status)
    assert pages >= 4
    assert metadata_of(result, "universe_snapshot")["api_calls"] == pages
    assert sb.counters.rest_requests["tickers"] == pages


def test_duplicate_rows_keep_the_active_listing_then_the_latest_delisting():
    columns = ["ticker", "name", "delisted_utc"]
    active = pd.DataFrame([["AB", "AB new", None], ["AB", "AB new", None]], columns=columns)
    inactive = pd.DataFrame(
        [
            ["AB", "AB old", "2020-01-02T00:00:00Z"],
            ["CD", "CD first", "2019-05-01T00:00:00Z"],
            ["CD", "CD second", "2024-05-01T00:00:00Z"],
        ],
        columns=columns,
    )
    frame = normalize_universe(active, inactive, SESSION)
    table = schemas.to_table(frame, schemas.UNIVERSE_SNAPSHOT, "universe_snapshot")
    rows = {r["ticker"]: r for r in table.to_pylist()}
    assert sorted(rows) == ["AB", "CD"]
    assert rows["AB"]["name"] == "AB new" and rows["AB"]["active"] is True
    assert rows["CD"]["name"] == "CD second" and rows["CD"]["active"] is False
    assert rows["CD"]["type"] is None  # columns Polygon left out stay null
