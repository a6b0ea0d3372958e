"""Each injected sandbox fault makes the right check fail, at the right severity, naming the
offending tickers; an ERROR blocks the curated layer for that session, a WARN does not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from finance_pipeline import schemas
from finance_pipeline.assets import flat_file_day_aggs, flat_file_minute_aggs, grouped_daily_bars
from finance_pipeline.assets.curated import daily_bars
from finance_pipeline.checks.quality import CHECK_NAMES
from finance_pipeline.checks.rules.comparison import sample_tickers
from finance_pipeline.clients import FlatFilesClient
from finance_pipeline.lake import Lake
from finance_pipeline.sandbox import Sandbox
from finance_pipeline_tests.assets.support import sandbox_resources
from finance_pipeline_tests.checks.support import evaluations, meta, run_with_checks
from finance_pipeline_tests.conftest import SANDBOX_DEFAULTS

CORRUPT = dt.date(2025, 1, 15)
DROP = DUP = dt.date(2025, 1, 16)  # a missing ticker and duplicated rows in one answer
VOLUME = dt.date(2025, 1, 21)  # 2025-01-20 is a holiday
RESTATE = dt.date(2025, 1, 22)
WRONG_DAY = dt.date(2025, 1, 23)
SCHEMA = dt.date(2025, 1, 24)
DAY = [grouped_daily_bars, flat_file_day_aggs]
ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def traded(sb: Sandbox, session: dt.date) -> list[str]:
    """Non-OTC tickers with a bar on `session` (what grouped daily returns), test symbols out."""
    day = sb.market.day_bars(session)
    tickers = day.loc[~day["otc"], "ticker"]
    return sorted(t for t in tickers if "TEST" not in t and t != "ZVZZT")


def store_wrong_day_file(sb: Sandbox, lake_root: Path) -> pd.DataFrame:
    """A wrong-day file (the real 2019-08-12 defect) stored for WRONG_DAY by a writer without
    the asset's own guard; returns the frame that was written."""
    sb.faults.wrong_day("day_aggs_v1", WRONG_DAY)
    client = FlatFilesClient(sb.s3_client(), bucket=sb.bucket)
    flat = client.download("day_aggs_v1", WRONG_DAY)
    frame = flat.frame.assign(
        session=WRONG_DAY,
        window_start=pd.to_datetime(flat.frame["window_start"], unit="ns", utc=True),
        vwap=float("nan"),
        source_etag=flat.info.etag,
        source_last_modified=flat.info.last_modified,
    )
    Lake(str(lake_root)).write("flat_file_day_aggs", WRONG_DAY, frame)
    return frame


def store_old_schema_file(lake_root: Path, frame: pd.DataFrame) -> None:
    """A file for SCHEMA written by an older schema: integer volumes (readable, but not ours)."""
    table = Lake(str(lake_root)).conform("flat_file_day_aggs", frame)
    table = table.set_column(
        table.schema.get_field_index("volume"),
        "volume",
        pc.cast(table["volume"], pa.int64(), safe=False),
    )
    path = Path(Lake(str(lake_root)).uri("flat_file_day_aggs", SCHEMA))
    path.parent.mkdir(parents=True)
    pq.write_table(table.set_column(1, "session", pa.array([SCHEMA] * len(table))), path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 60-ticker sandbox, one fault per session, the runs that store and check them."""
    cache = tmp_path_factory.mktemp("fault-market-cache")
    lake_root = tmp_path_factory.mktemp("fault-lake")
    with Sandbox(**{**SANDBOX_DEFAULTS, "tickers": 60}, cache_dir=cache) as sb:
        resources = sandbox_resources(sb, lake_root)
        names = {
            "corrupt": sample_tickers(pd.Series(traded(sb, CORRUPT)), CORRUPT, 5)[0],
            "drop": "NA",
            "volume": ["BRK.A", "BRK.B"],
            "restate": "KIMpL",
        }
        assert names["drop"] in traded(sb, DROP)
        assert set(names["volume"]) <= set(traded(sb, VOLUME))
        assert names["restate"] in traded(sb, RESTATE)
        sb.faults.corrupt_price("grouped_daily", CORRUPT, names["corrupt"], factor=10.0)
        sb.faults.drop_ticker("grouped_daily", DROP, names["drop"])
        sb.faults.duplicate_rows("grouped_daily", DUP, n=2)
        sb.faults.volume_correction("grouped_daily", VOLUME, names["volume"], relative=0.001)

        runs = {}
        with dg.instance_for_test() as instance:
            for session in (CORRUPT, VOLUME):
                runs[session] = run_with_checks([*DAY, daily_bars], resources, session, instance)
            runs[DROP] = run_with_checks(DAY, resources, DROP, instance)

            # A restatement after the evening pull: the new flat file disagrees with what
            # grouped daily and the minute file stored.
            run_with_checks([*DAY, flat_file_minute_aggs], resources, RESTATE, instance)
            sb.faults.restate("day_aggs_v1", RESTATE, names["restate"], price_factor=1.05)
            runs[RESTATE] = run_with_checks(
                [flat_file_day_aggs],
                resources,
                RESTATE,
                instance,
                also_checks_of=[flat_file_minute_aggs],
            )

            frame = store_wrong_day_file(sb, lake_root)
            runs[WRONG_DAY] = run_with_checks(
                [flat_file_day_aggs], resources, WRONG_DAY, instance, checks_only=True
            )
            store_old_schema_file(lake_root, frame)
            runs[SCHEMA] = run_with_checks(
                [flat_file_day_aggs], resources, SCHEMA, instance, checks_only=True
            )
        yield {"runs": runs, "names": names, "lake": Lake(str(lake_root))}


def failed(evaluation, severity) -> bool:
    return not evaluation.passed and evaluation.severity == severity


def test_corrupted_price_fails_both_reconciliations_and_blocks_curated(world) -> None:
    result, ticker = world["runs"][CORRUPT], world["names"]["corrupt"]
    found = evaluations(result)
    paths = found[("flat_file_day_aggs", "matches_grouped_daily")]
    assert failed(paths, ERROR)
    assert meta(paths)["price_mismatched"] == 1 and meta(paths)["offenders"] == ticker
    old_path = found[("grouped_daily_bars", "matches_rest_sample")]
    assert failed(old_path, ERROR)
    assert meta(old_path)["offenders"] == ticker and meta(old_path)["api_calls"] == 5
    assert meta(old_path)["max_rel_diff"] == pytest.approx(0.9)  # 10x: |10a - a| / 10a
    # The blocking ERROR kept daily_bars from being built on the bad session.
    assert not result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "daily_bars" not in materialized
    assert {"grouped_daily_bars", "flat_file_day_aggs"} <= materialized


def test_missing_ticker_is_a_warning_naming_it(world) -> None:
    found = evaluations(world["runs"][DROP])
    paths = found[("flat_file_day_aggs", "matches_grouped_daily")]
    assert failed(paths, WARN)
    data = meta(paths)
    assert (data["only_left"], data["only_right"], data["mismatched"]) == (1, 0, 0)
    assert data["offenders"] == data["only_left_tickers"] == world["names"]["drop"]


def test_duplicated_rows_fail_the_unique_key_check(world) -> None:
    found = evaluations(world["runs"][DUP])
    unique = found[("grouped_daily_bars", "unique_keys")]
    assert failed(unique, ERROR)
    stored = world["lake"].read("grouped_daily_bars", DUP).to_pandas()
    counts = stored["ticker"].value_counts()
    doubled = sorted(counts[counts > 1].index)
    assert len(doubled) == 2
    assert meta(unique)["duplicate_rows"] == 2
    assert sorted(meta(unique)["offenders"].split(", ")) == doubled
    # The flat file is clean: its own keys are unique, and the duplicates do not count twice
    # in the comparison, which only sees the missing ticker.
    assert found[("flat_file_day_aggs", "unique_keys")].passed
    assert meta(found[("flat_file_day_aggs", "matches_grouped_daily")])["only_left"] == 1


def test_late_volume_correction_is_warn_not_error(world) -> None:
    result = world["runs"][VOLUME]
    found = evaluations(result)
    paths = found[("flat_file_day_aggs", "matches_grouped_daily")]
    assert failed(paths, WARN)
    data = meta(paths)
    assert data["volume_mismatched"] == 2 and data["price_mismatched"] == 0
    assert sorted(data["offenders"].split(", ")) == sorted(world["names"]["volume"])
    assert data["max_rel_diff"] == pytest.approx(0.001 / 1.001)
    assert not any(failed(e, ERROR) for e in found.values())
    # WARN does not block: the curated layer was built for the session.
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "daily_bars" in materialized


def test_restated_flat_file_fails_against_both_stored_paths(world) -> None:
    ticker = world["names"]["restate"]
    paths = evaluations(world["runs"][RESTATE])[("flat_file_day_aggs", "matches_grouped_daily")]
    assert failed(paths, ERROR)
    assert meta(paths)["offenders"] == ticker
    assert meta(paths)["max_rel_diff"] == pytest.approx(0.05 / 1.05)
    minutes = evaluations(world["runs"][RESTATE])[
        ("flat_file_minute_aggs", "consistent_with_day_aggs")
    ]
    assert failed(minutes, ERROR)
    assert meta(minutes)["offenders"] == ticker


def test_wrong_day_file_fails_the_session_window_check(world) -> None:
    found = evaluations(world["runs"][WRONG_DAY])
    window = found[("flat_file_day_aggs", "session_window")]
    assert failed(window, ERROR)
    rows = world["lake"].read("flat_file_day_aggs", WRONG_DAY).num_rows
    assert meta(window)["window_outside_session_rows"] == rows > 0
    assert meta(window)["offenders"]
    # The other rules hold: only the day is wrong.
    assert found[("flat_file_day_aggs", "bar_invariants")].passed
    assert found[("flat_file_day_aggs", "unique_keys")].passed
    assert schemas.KEYS["flat_file_day_aggs"] == ("ticker", "session")


def test_a_file_with_another_schema_fails_the_schema_check(world) -> None:
    found = evaluations(world["runs"][SCHEMA])
    schema = found[("flat_file_day_aggs", "schema")]
    assert failed(schema, ERROR)
    assert "volume is int64, expected double" in schema.description
    # The lake still reads it (a safe cast), and the rows themselves are fine (grouped daily
    # is not stored for the session, so the reconciliation passes as skipped).
    others = {name: e.passed for (_, name), e in found.items() if name != "schema"}
    assert set(others) == {*CHECK_NAMES, "matches_grouped_daily"} - {"schema"}
    assert all(others.values())
