import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from finance_pipeline import schemas
from finance_pipeline.assets import flat_file_day_aggs, flat_file_minute_aggs
from finance_pipeline.assets.flat_file_aggs import constant_column
from finance_pipeline.automation.sensors import recorded_etags
from finance_pipeline.calendar import sessions_between
from finance_pipeline.registry import FLAT_FILE_ASSET
from finance_pipeline.sandbox import object_key
from finance_pipeline_tests.assets.support import (
    digest,
    failure_text,
    metadata_of,
    partition_file,
    read_partition,
    run,
    run_totals_of,
    sandbox_resources,
    session_metadata_of,
    stored_sessions,
)

SESSION = dt.date(2025, 1, 15)
FLAT_FILE_DATASETS = {asset: dataset for dataset, asset in FLAT_FILE_ASSET.items()}
FIRST, LAST = dt.date(2024, 12, 3), dt.date(2024, 12, 31)  # 20 sessions: no Christmas


def sip_day_bars(sb, session: dt.date) -> pd.DataFrame:
    """The market's day bars as flat files carry them (no OTC names)."""
    bars = sb.market.day_bars(session)
    return bars[~bars["otc"]]


def sip_minute_bars(sb, session: dt.date) -> pd.DataFrame:
    bars = sb.market.minute_bars(session)
    return bars[bars["ticker"].isin(set(sip_day_bars(sb, session)["ticker"]))]


def test_day_file_is_stored_with_its_etag_and_zero_api_calls(sandbox, tmp_path):
    before = sandbox.counters
    result = run([flat_file_day_aggs], sandbox_resources(sandbox, tmp_path), session=SESSION)
    after = sandbox.counters

    table = read_partition(tmp_path, "flat_file_day_aggs", SESSION)
    assert table.schema.equals(schemas.FLAT_FILE_DAY_AGGS)
    expected = sip_day_bars(sandbox, SESSION).sort_values("ticker")
    got = table.to_pandas().sort_values("ticker")
    assert got["ticker"].tolist() == expected["ticker"].tolist()
    assert got["close"].tolist() == pytest.approx(expected["close"].tolist(), rel=1e-9)
    assert got["window_start"].astype("int64").tolist() == expected["window_start"].tolist()
    assert set(got["session"]) == {SESSION}
    assert table["vwap"].null_count == table.num_rows  # flat files carry no vwap: null, not NaN

    head = sandbox.s3_client().head_object(
        Bucket=sandbox.bucket, Key=object_key("day_aggs_v1", SESSION)
    )
    assert set(got["source_etag"]) == {head["ETag"].strip('"')}
    assert set(got["source_last_modified"]) == {pd.Timestamp(head["LastModified"])}

    metadata = metadata_of(result, "flat_file_day_aggs")
    gets = after.s3_operations["GetObject"] - before.s3_operations["GetObject"]
    assert metadata["s3_gets"] == gets == 1
    assert metadata["api_calls"] == 0 and after.rest_total == before.rest_total
    assert metadata["bytes_downloaded"] == head["ContentLength"]
    assert metadata["calls_saved"] == metadata["tickers"] == len(expected)
    assert metadata["dagster/row_count"] == len(expected)


def check_20_session_run(sb, lake, asset, expected_rows) -> None:
    """One range run writes exactly its 20 partitions; a second gives identical bytes. Each
    partition's event records its own file's ETag (what the sensor and the schedule read),
    and the run logs once, not once per file."""
    sessions = sessions_between(FIRST, LAST)
    assert len(sessions) == 20
    name = asset.key.path[-1]
    resources = sandbox_resources(sb, lake)
    before = sb.counters
    with dg.instance_for_test() as instance:
        result = run([asset], resources, sessions=(FIRST, LAST), instance=instance)
        assert sb.counters.s3_gets - before.s3_gets == 20
        assert sb.counters.rest_total == before.rest_total
        dataset = FLAT_FILE_DATASETS[name]
        etags = {
            s: sb.s3_client().head_object(Bucket=sb.bucket, Key=object_key(dataset, s))["ETag"]
            for s in sessions
        }
        etags = {s: etag.strip('"') for s, etag in etags.items()}
        assert len(set(etags.values())) == 20
        recorded = {
            e.partition: e.materialization.metadata["source_etags"].value
            for e in result.get_asset_materialization_events()
        }
        assert recorded == {s.isoformat(): {s.isoformat(): etags[s]} for s in sessions}
        assert recorded_etags(instance, name, sessions) == etags
        logged = [
            entry.user_message
            for entry in instance.all_logs(result.run_id)
            if entry.dagster_event is None and dataset in entry.user_message
        ]
        assert len(logged) == 1 and f"20 files, {FIRST}..{LAST}" in logged[0], logged

    assert stored_sessions(lake, name) == [s.isoformat() for s in sessions]
    for session in sessions:
        table = read_partition(lake, name, session)
        assert table.num_rows == len(expected_rows(sb, session)) > 0
        assert set(table["session"].to_pylist()) == {session}
    metadata = run_totals_of(result, name)
    assert metadata["s3_gets"] == 20
    assert metadata["sessions"] == metadata["run_sessions"] == 20
    assert metadata["api_calls"] == 0
    # Each session shows its own file's figures; they add up to the run's.
    per_session = session_metadata_of(result, name)
    assert sorted(per_session) == [s.isoformat() for s in sessions]
    for session in sessions:
        own = per_session[session.isoformat()]
        assert own["dagster/row_count"] == len(expected_rows(sb, session))
        assert own["s3_gets"] == 1 and own["source_etag"] == etags[session]
        assert own["source"] == object_key(dataset, session) and own["partitions_written"] == 1
    rows = sum(m["dagster/row_count"] for m in per_session.values())
    assert rows == metadata["dagster/row_count"]
    assert sum(m["bytes"] for m in per_session.values()) == metadata["bytes"]

    digests = {s: digest(partition_file(lake, name, s)) for s in sessions}
    run([asset], resources, sessions=(FIRST, LAST))
    assert {s: digest(partition_file(lake, name, s)) for s in sessions} == digests


def test_a_20_session_day_run_writes_20_partitions_identically_twice(sandbox, tmp_path):
    check_20_session_run(sandbox, tmp_path, flat_file_day_aggs, sip_day_bars)


def test_a_20_session_minute_run_writes_20_partitions_identically_twice(fresh_sandbox, tmp_path):
    # A small market of its own keeps 20 sessions of minute files quick to generate.
    sb = fresh_sandbox(tickers=40, start=FIRST, end=LAST)
    check_20_session_run(sb, tmp_path, flat_file_minute_aggs, sip_minute_bars)


def test_bad_files_fail_by_name_and_leave_stored_partitions_alone(fresh_sandbox, tmp_path):
    first, last = dt.date(2025, 1, 13), dt.date(2025, 1, 17)
    sb = fresh_sandbox(start=first, end=last)
    resources = sandbox_resources(sb, tmp_path)
    run([flat_file_day_aggs], resources, sessions=(first, last))
    sessions = sessions_between(first, last)
    paths = [partition_file(tmp_path, "flat_file_day_aggs", s) for s in sessions]
    good = [digest(p) for p in paths]
    key = object_key("day_aggs_v1", SESSION)

    sb.faults.truncate("day_aggs_v1", SESSION)
    result = run([flat_file_day_aggs], resources, session=SESSION, raise_on_error=False)
    assert not result.success
    assert key in failure_text(result)
    assert [digest(p) for p in paths] == good
    sb.faults.clear()

    sb.faults.wrong_day("day_aggs_v1", SESSION)
    result = run([flat_file_day_aggs], resources, session=SESSION, raise_on_error=False)
    assert not result.success
    message = failure_text(result)
    assert key in message and "wrong-day" in message
    assert [digest(p) for p in paths] == good
    sb.faults.clear()

    # A range with a missing file fails before downloading anything, naming the session.
    sb.faults.remove("day_aggs_v1", SESSION)
    gets = sb.counters.s3_gets
    result = run([flat_file_day_aggs], resources, sessions=(first, last), raise_on_error=False)
    assert not result.success
    assert "1 of 5 session(s) have no flat file" in failure_text(result)
    assert str(SESSION) in failure_text(result)
    assert sb.counters.s3_gets == gets
    assert [digest(p) for p in paths] == good


@pytest.mark.parametrize("rows", [0, 5, (1 << 16) * 2 + 7])
def test_constant_columns_hold_their_value_on_every_row_in_one_shared_buffer(rows):
    etag = pa.scalar("f8558ceeed71fa6f1c8970bb15bccf87", pa.string())
    before = pa.total_allocated_bytes()
    column = constant_column(etag, rows)
    allocated = pa.total_allocated_bytes() - before
    assert column.type == pa.string() and len(column) == rows
    assert pc.count_distinct(column).as_py() == (1 if rows else 0)
    assert pc.count(column).as_py() == rows
    # Every chunk is a view of the first: the column costs one chunk, not `rows` values.
    buffers = {chunk.buffers()[2].address for chunk in column.chunks}
    assert len(buffers) <= 1
    assert allocated <= (1 << 16) * 40  # one chunk of 32-byte values and offsets
