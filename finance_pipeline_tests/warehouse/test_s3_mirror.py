"""An S3 lake is mirrored locally (by ETag), read, and compacted."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import COMPACT_DIR, Warehouse, WarehouseError
from finance_pipeline_tests.moto_s3 import moto_s3
from finance_pipeline_tests.warehouse.support import SESSIONS, bars, closes_for, sorted_rows

# --------------------------------------------------------------------------- S3 lakes


def test_s3_lake_is_mirrored_read_and_compacted(tmp_path: Path) -> None:
    with moto_s3() as (endpoint, client):
        bucket = f"lake-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        root = f"s3://{bucket}/prod/lake"
        lake = Lake(root, s3_client=client)
        for index, session in enumerate(SESSIONS[:4]):
            lake.write("daily_bars", session, bars(session, closes_for(index)))
        written = pa.concat_tables(bars(s, closes_for(i)) for i, s in enumerate(SESSIONS[:4]))
        cache = tmp_path / "cache"
        with Warehouse(root, s3_endpoint_url=endpoint, s3_client=client, cache_dir=cache) as wh:
            assert sorted_rows(wh.query("SELECT * FROM daily_bars")) == sorted_rows(written)
            assert wh.compact("daily_bars").periods == ["2023"]
            # A restated object in S3 is downloaded again and served over the compacted copy.
            lake.write("daily_bars", SESSIONS[2], bars(SESSIONS[2], {"AAA": 123.0}))
            wh.refresh()
            got = wh.query(f"SELECT ticker, close FROM daily_bars WHERE session = '{SESSIONS[2]}'")
            assert got.to_pylist() == [{"ticker": "AAA", "close": 123.0}]
            # An object deleted from the lake leaves the mirror and the views.
            client.delete_object(
                Bucket=bucket, Key=f"prod/lake/daily_bars/session={SESSIONS[0]}/part-0.parquet"
            )
            wh.refresh()
            days = wh.query("SELECT DISTINCT session FROM daily_bars ORDER BY 1")
            assert days.column("session").to_pylist() == SESSIONS[1:4]
        assert (cache / "warehouse.duckdb").is_file()
        assert (cache / COMPACT_DIR / "daily_bars" / "2023.duckdb").is_file()

        missing = Warehouse(
            "s3://no-such-bucket-x/lake", s3_client=client, cache_dir=tmp_path / "other"
        )
        with pytest.raises(WarehouseError, match=r"no-such-bucket-x.*does not exist"):
            missing.query("SELECT 1")
