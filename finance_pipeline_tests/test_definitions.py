import os
import subprocess
import sys

import dagster as dg

from finance_pipeline.assets import SOURCE_ASSETS
from finance_pipeline.definitions import defs
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.resources import resources_from_env
from finance_pipeline.settings import ENV_VARS

POLYGON_ASSETS = {"universe_snapshot", "grouped_daily_bars", "rest_fills", "splits", "dividends"}


def test_definitions_are_loadable():
    dg.Definitions.validate_loadable(defs)


def test_every_asset_is_partitioned_by_trading_session():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert {a.key for a in SOURCE_ASSETS} <= keys
    for key in keys:
        assert graph.get(key).partitions_def == TRADING_SESSIONS, key


def test_source_assets_are_grouped_and_pooled():
    graph = defs.resolve_asset_graph()
    for asset in SOURCE_ASSETS:
        node = graph.get(asset.key)
        name = asset.key.path[-1]
        assert node.group_name == "sources"
        assert node.description
        assert ("polygon_api" in node.pools) == (name in POLYGON_ASSETS), name
    single = {"splits", "dividends"}
    for name in single:
        assert graph.get(dg.AssetKey(name)).backfill_policy == dg.BackfillPolicy.single_run()
    for name in ("flat_file_day_aggs", "flat_file_minute_aggs"):
        policy = graph.get(dg.AssetKey(name)).backfill_policy
        assert policy.max_partitions_per_run > 1


def test_secrets_stay_env_vars_and_defaults_apply(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    resources = resources_from_env()
    assert resources["polygon"].api_key == dg.EnvVar("POLYGON_API_KEY")
    s3 = resources["flat_files"].s3
    assert s3.aws_secret_access_key == dg.EnvVar("FLATFILES_SECRET_ACCESS_KEY")
    assert resources["polygon"].base_url == ENV_VARS["POLYGON_BASE_URL"][0]
    assert s3.endpoint_url == ENV_VARS["FLATFILES_ENDPOINT_URL"][0]
    assert resources["flat_files"].bucket == ENV_VARS["FLATFILES_BUCKET"][0]
    assert set(resources) >= {"polygon", "flat_files", "lake", "parquet_io_manager"}


def test_definitions_load_with_no_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    code = (
        "import dagster as dg\n"
        "from finance_pipeline.definitions import defs\n"
        "dg.Definitions.validate_loadable(defs)\n"
        "print(len(defs.resolve_asset_graph().get_all_asset_keys()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().splitlines()[-1]) >= len(SOURCE_ASSETS)


def test_every_asset_shows_owner_tags_code_and_described_columns():
    """What the UI's asset page shows: owners, a layer tag, a code reference and a column
    schema whose every column is described."""
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:market-data"], key
        assert node.tags["layer"] in {"raw", "curated"}, key
        references = node.metadata["dagster/code_references"].code_references
        assert references and all(r.file_path.endswith(".py") for r in references), key
        columns = node.metadata["dagster/column_schema"].columns
        assert columns and all(c.description for c in columns), key


def test_code_references_link_to_the_repository_when_configured(monkeypatch):
    from finance_pipeline.definitions import build_definitions

    monkeypatch.setenv("FINANCE_PIPELINE_GIT_URL", "https://github.com/example/finance_pipeline")
    graph = build_definitions().resolve_asset_graph()
    references = graph.get(dg.AssetKey("daily_bars")).metadata["dagster/code_references"]
    (url,) = [r.url for r in references.code_references]
    assert url.startswith("https://github.com/example/finance_pipeline/tree/main/finance_pipeline/")
    assert "assets/curated.py#L" in url


def test_every_resource_is_described():
    resources = defs.get_repository_def().get_top_level_resources()
    assert set(resources) >= {"polygon", "flat_files", "lake", "parquet_io_manager"}
    assert all(r.description for r in resources.values())
