"""After a range run, what the UI reads through the webserver's GraphQL: each session's own
figures, each session's own check results, and no freshness verdict inside the run."""

from __future__ import annotations

import pytest

from finance_pipeline.checks.quality import CHECK_NAMES
from finance_pipeline_tests.ui.scenario import RangeRun
from finance_pipeline_tests.ui.webserver import graphql

ASSET_EVENTS = """
query ($key: AssetKeyInput!) {
  assetNodes(assetKeys: [$key]) {
    assetMaterializations(limit: 100) {
      partition runId
      metadataEntries {
        label
        ... on IntMetadataEntry { intValue }
        ... on TextMetadataEntry { text }
      }
    }
    assetObservations(limit: 100) {
      partition runId
      metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
  }
}"""

CHECKS = """
query ($key: AssetKeyInput!) {
  assetNodes(assetKeys: [$key]) {
    assetChecksOrError {
      ... on AssetChecks {
        checks {
          name
          partitionStatuses {
            ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
          }
        }
      }
    }
  }
}"""

EXECUTIONS = """
query ($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 100) {
    runId partition status
    evaluation { severity metadataEntries { label ... on IntMetadataEntry { intValue } } }
  }
}"""


def _numbers(entries: list[dict]) -> dict[str, int]:
    return {e["label"]: e["intValue"] for e in entries if "intValue" in e}


def _texts(entries: list[dict]) -> dict[str, str]:
    return {e["label"]: e["text"] for e in entries if "text" in e}


@pytest.mark.slow
@pytest.mark.parametrize("asset", ["flat_file_day_aggs", "daily_bars"])
def test_each_session_shows_its_own_rows_summing_to_the_run(
    range_run: RangeRun, ui_url: str, asset: str
) -> None:
    node = graphql(ui_url, ASSET_EVENTS, {"key": {"path": [asset]}})["assetNodes"][0]
    keys = [s.isoformat() for s in range_run.sessions]
    sessions = {m["partition"]: m for m in node["assetMaterializations"]}
    assert sorted(sessions) == keys
    (run_id,) = {m["runId"] for m in sessions.values()}  # one range run
    (totals,) = [o for o in node["assetObservations"] if o["partition"] is None]
    assert totals["runId"] == run_id
    run_rows = _numbers(totals["metadataEntries"])["dagster/row_count"]
    rows = {k: _numbers(m["metadataEntries"])["dagster/row_count"] for k, m in sessions.items()}
    assert sum(rows.values()) == run_rows
    assert len(set(rows.values())) > 1 or len(rows) == 1  # not one total copied N times
    for key, materialization in sessions.items():
        assert rows[key] < run_rows
        texts = _texts(materialization["metadataEntries"])
        if asset == "flat_file_day_aggs":
            assert texts["source"].endswith(f"{key}.csv.gz") and texts["source_etag"]
        else:
            assert texts["source"] == "flat_file_day_aggs"


@pytest.mark.slow
@pytest.mark.parametrize("asset", ["flat_file_day_aggs", "daily_bars"])
def test_every_session_of_the_range_passed_every_check(
    range_run: RangeRun, ui_url: str, asset: str
) -> None:
    """The check's Partitions tab and the graph badge read these statuses."""
    key = {"path": [asset]}
    node = graphql(ui_url, CHECKS, {"key": key})["assetNodes"][0]
    checks = node["assetChecksOrError"]["checks"]
    partitioned = [c for c in checks if c["partitionStatuses"] is not None]
    assert set(CHECK_NAMES) <= {c["name"] for c in partitioned}
    keys = [s.isoformat() for s in range_run.sessions]
    for check in partitioned:
        ranges = check["partitionStatuses"]["ranges"]
        assert {r["status"] for r in ranges} == {"SUCCEEDED"}, check["name"]
        assert {r["startKey"] for r in ranges} | {r["endKey"] for r in ranges} <= set(keys)
        assert (ranges[0]["startKey"], ranges[-1]["endKey"]) == (keys[0], keys[-1])
        runs = graphql(ui_url, EXECUTIONS, {"key": key, "check": check["name"]})
        executions = runs["assetCheckExecutions"]
        assert sorted(e["partition"] for e in executions) == keys, check["name"]
        assert {e["status"] for e in executions} == {"SUCCEEDED"}, check["name"]


@pytest.mark.slow
def test_the_range_run_records_no_freshness_verdict(range_run: RangeRun, ui_url: str) -> None:
    for asset in ("flat_file_day_aggs", "grouped_daily_bars"):
        key = {"path": [asset]}
        runs = graphql(ui_url, EXECUTIONS, {"key": key, "check": "fresh"})
        assert runs["assetCheckExecutions"] == [], asset
