"""The curated layer through real Dagster runs on a real lake, and its automation condition
evaluated against a real instance."""

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from finance_pipeline import schemas
from finance_pipeline.assets.curated import (
    AUTOMATION_LOOKBACK,
    curate_session,
    daily_bars,
    minute_bars,
)
from finance_pipeline.calendar import (
    NEW_YORK,
    new_york_date,
    previous_session,
    sessions_between,
)
from finance_pipeline.lake import Lake
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.resources import lake_resources
from finance_pipeline_tests.assets.support import run_totals_of, session_metadata_of

S1, S2, S3 = sessions_between(dt.date(2024, 3, 4), dt.date(2024, 3, 6))


def day_frame(dataset: str, session: dt.date, tickers: list[str], price: float) -> pd.DataFrame:
    """Raw daily bars shaped like `dataset`; `price` tells the sources apart."""
    midnight = pd.Timestamp(dt.datetime.combine(session, dt.time(), NEW_YORK)).tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "ticker": tickers,
            "session": session,
            "window_start": midnight,
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price,
            "volume": 1000.0,
            "vwap": price if dataset == "grouped_daily_bars" else None,
            "transactions": 10,
        }
    )
    if dataset == "grouped_daily_bars":
        frame["otc"] = False
    else:
        frame["source_etag"] = f"etag-{price}"
        frame["source_last_modified"] = midnight + pd.Timedelta(days=1)
    return frame


def minute_frame(dataset: str, session: dt.date, tickers: list[str]) -> pd.DataFrame:
    start = pd.Timestamp(dt.datetime.combine(session, dt.time(9, 30), NEW_YORK)).tz_convert("UTC")
    rows = [(t, start + pd.Timedelta(minutes=m)) for t in tickers for m in range(3)]
    frame = pd.DataFrame(rows, columns=["ticker", "window_start"])
    frame["session"] = session
    for column in ("open", "high", "low", "close", "vwap"):
        frame[column] = 50.0
    frame["volume"] = 10.0
    frame["transactions"] = 1
    if dataset == "flat_file_minute_aggs":
        frame["source_etag"] = "etag"
        frame["source_last_modified"] = start
    return frame


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def run(lake: Lake, asset, sessions: list[dt.date], instance=None, raise_on_error=True):
    """One real run of a curated asset: a single partition, or a range run."""
    kwargs: dict = {}
    if len(sessions) == 1:
        kwargs["partition_key"] = sessions[0].isoformat()
    else:
        kwargs["tags"] = {
            "dagster/asset_partition_range_start": sessions[0].isoformat(),
            "dagster/asset_partition_range_end": sessions[-1].isoformat(),
        }
    return dg.materialize(
        [asset],
        resources=lake_resources(lake.root),
        instance=instance,
        raise_on_error=raise_on_error,
        **kwargs,
    )


def metadata_of(result: dg.ExecuteInProcessResult) -> dict:
    events = result.get_asset_materialization_events()
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


def test_daily_bars_prefers_the_flat_file_and_records_source(lake):
    lake.write("grouped_daily_bars", S1, day_frame("grouped_daily_bars", S1, ["AAPL", "MSFT"], 10))
    lake.write("flat_file_day_aggs", S1, day_frame("flat_file_day_aggs", S1, ["AAPL", "MSFT"], 20))

    result = run(lake, daily_bars, [S1])

    stored = lake.read("daily_bars", S1).to_pandas()
    assert set(stored["source"]) == {"flat_file_day_aggs"}
    assert list(stored["close"]) == [20.0, 20.0]  # the flat file's numbers, not grouped daily's
    assert list(stored["ticker"]) == ["AAPL", "MSFT"]
    meta = metadata_of(result)
    assert meta["source"] == "flat_file_day_aggs"
    assert meta["source_rank"] == 1
    assert meta["rows"] == 2
    assert meta["dagster/row_count"] == 2
    assert meta["sessions_from_flat_file"] == 1
    assert meta["sessions_from_grouped_daily"] == 0
    assert meta["old_path_calls"] == 2


def test_daily_bars_switches_to_the_flat_file_when_it_lands(lake, tmp_path):
    tickers = ["AAPL", "BRK.A", "NA"]
    lake.write("grouped_daily_bars", S2, day_frame("grouped_daily_bars", S2, tickers, 10))
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        first = run(lake, daily_bars, [S2], instance)
        before = lake.read("daily_bars", S2).to_pandas()
        assert set(before["source"]) == {"grouped_daily_bars"}
        assert metadata_of(first)["source_rank"] == 2

        lake.write("flat_file_day_aggs", S2, day_frame("flat_file_day_aggs", S2, tickers, 30))
        second = run(lake, daily_bars, [S2], instance)

    after = lake.read("daily_bars", S2).to_pandas()
    assert set(after["source"]) == {"flat_file_day_aggs"}
    assert set(after["close"]) == {30.0}
    assert sorted(after["ticker"]) == sorted(tickers)  # NA stays a ticker, not a null
    assert metadata_of(second)["source"] == "flat_file_day_aggs"
    assert metadata_of(second)["partitions_changed"] == 1


def test_test_symbols_and_otc_rows_are_dropped(lake):
    frame = day_frame("grouped_daily_bars", S1, ["AAPL", "ZVZZT", "XTESTX", "OTCX"], 10)
    frame.loc[frame["ticker"] == "OTCX", "otc"] = True
    lake.write("grouped_daily_bars", S1, frame)

    result = run(lake, daily_bars, [S1])

    assert lake.read("daily_bars", S1)["ticker"].to_pylist() == ["AAPL"]
    meta = metadata_of(result)
    assert meta["test_symbols_dropped"] == 2
    assert meta["otc_rows_dropped"] == 1


def test_range_run_mixes_sources_per_session(lake):
    for day in (S1, S2, S3):
        lake.write("grouped_daily_bars", day, day_frame("grouped_daily_bars", day, ["A", "B"], 10))
    for day in (S1, S2):
        lake.write("flat_file_day_aggs", day, day_frame("flat_file_day_aggs", day, ["A", "B"], 20))

    result = run(lake, daily_bars, [S1, S2, S3])

    sources = {day: set(lake.read("daily_bars", day)["source"].to_pylist()) for day in (S1, S2, S3)}
    assert sources == {
        S1: {"flat_file_day_aggs"},
        S2: {"flat_file_day_aggs"},
        S3: {"grouped_daily_bars"},
    }
    meta = run_totals_of(result, "daily_bars")
    assert meta["sessions_from_flat_file"] == 2
    assert meta["sessions_from_grouped_daily"] == 1
    assert meta["source_rank"] == 2
    assert "grouped_daily_bars (1 sessions)" in meta["source"]
    assert meta["sources_by_session"] == {
        S1.isoformat(): "flat_file_day_aggs",
        S2.isoformat(): "flat_file_day_aggs",
        S3.isoformat(): "grouped_daily_bars",
    }
    # Each session shows its own source and rows, never the run's (Dagster copies output
    # metadata onto every partition of a range run).
    per_session = session_metadata_of(result, "daily_bars")
    assert {key: m["source"] for key, m in per_session.items()} == meta["sources_by_session"]
    assert {m["dagster/row_count"] for m in per_session.values()} == {2}
    assert sum(m["dagster/row_count"] for m in per_session.values()) == meta["rows"] == 6
    assert all("sources_by_session" not in m and m["sessions"] == 1 for m in per_session.values())


def test_no_source_stored_fails_naming_the_missing_sources(lake):
    lake.write("grouped_daily_bars", S1, day_frame("grouped_daily_bars", S1, ["A"], 10))

    result = run(lake, daily_bars, [S1, S2, S3], raise_on_error=False)

    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert f"no source stored for 2 session(s) ({S2}, {S3})" in message
    assert "flat_file_day_aggs, grouped_daily_bars" in message
    assert lake.stored_sessions("daily_bars") == []  # nothing half-written


def test_minute_bars_prefer_flat_files_over_rest_fills(lake):
    lake.write("rest_fills", S1, minute_frame("rest_fills", S1, ["AAPL"]))
    lake.write("rest_fills", S2, minute_frame("rest_fills", S2, ["AAPL"]))
    lake.write(
        "flat_file_minute_aggs", S2, minute_frame("flat_file_minute_aggs", S2, ["AAPL", "B"])
    )

    result = run(lake, minute_bars, [S1, S2])

    first, second = lake.read("minute_bars", S1), lake.read("minute_bars", S2)
    assert set(first["source"].to_pylist()) == {"rest_fills"}
    assert set(second["source"].to_pylist()) == {"flat_file_minute_aggs"}
    assert second.num_rows == 6
    assert first.schema.equals(schemas.CURATED_BARS)
    assert metadata_of(result)["sessions_from_rest"] == 1


def test_curate_session_reports_what_is_stored(lake):
    assert curate_session(lake, "daily_bars", S1) is None
    lake.write("flat_file_day_aggs", S1, day_frame("flat_file_day_aggs", S1, ["A"], 20))
    lake.write("grouped_daily_bars", S1, day_frame("grouped_daily_bars", S1, ["A"], 10))
    curated = curate_session(lake, "daily_bars", S1)
    assert curated is not None
    assert curated.source == "flat_file"
    assert curated.available == ("flat_file_day_aggs", "grouped_daily_bars")


# ----------------------------------------------------------------------- automation condition
# Stand-ins for the raw assets with the same keys and a blocking check each, whose outcome the
# test decides; the curated assets and their condition are the real ones.
CHECK_OUTCOME: dict[str, bool] = {}


def _raw_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        partitions_def=TRADING_SESSIONS,
        check_specs=[
            dg.AssetCheckSpec("valid", asset=name, blocking=True, partitions_def=TRADING_SESSIONS)
        ],
    )
    def _raw() -> dg.Output:
        yield dg.Output(None)
        yield dg.AssetCheckResult(passed=CHECK_OUTCOME.get(name, True))

    return _raw


RAW = [_raw_asset(name) for name in ("grouped_daily_bars", "flat_file_day_aggs")]


class _NoWrite(dg.ConfigurableIOManager):
    def handle_output(self, context, obj) -> None:
        return None

    def load_input(self, context) -> None:
        return None


def test_automation_condition_follows_the_best_source_and_its_blocking_checks(tmp_path):
    now = dt.datetime.now(NEW_YORK)
    session = previous_session(new_york_date(now))  # its partition exists now
    assert now - dt.datetime.combine(session, dt.time(), NEW_YORK) < AUTOMATION_LOOKBACK
    key = session.isoformat()
    resources = {"parquet_io_manager": _NoWrite(), "io_manager": _NoWrite(), "lake": _NoWrite()}
    defs = dg.Definitions(assets=[*RAW, daily_bars], resources=resources)
    target = dg.AssetKey("daily_bars")

    def materialize(name: str, passed: bool) -> None:
        CHECK_OUTCOME[name] = passed
        dg.materialize(
            RAW,
            selection=[name],
            partition_key=key,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )

    def requested(cursor):
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=cursor, evaluation_time=now
        )
        keys = set(result.get_requested_partitions(target))
        return keys, result.cursor

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # Nothing stored: the new partition is missing but no source can serve it.
        keys, cursor = requested(None)
        assert key not in keys

        materialize("grouped_daily_bars", passed=True)
        keys, cursor = requested(cursor)
        assert key in keys  # grouped daily arrived and passed its checks

        keys, cursor = requested(cursor)
        assert key not in keys  # handled: no second request for the same update

        materialize("flat_file_day_aggs", passed=False)
        keys, cursor = requested(cursor)
        assert key not in keys  # better source landed, but its blocking check failed

        materialize("flat_file_day_aggs", passed=True)  # a restated, valid file
        keys, cursor = requested(cursor)
        assert key in keys

        materialize("grouped_daily_bars", passed=True)  # a correction of the unused source
        keys, cursor = requested(cursor)
        assert key not in keys
