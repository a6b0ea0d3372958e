"""The Warehouse facade refuses what it cannot answer with a one-line WarehouseError."""

from __future__ import annotations

from pathlib import Path

import pytest

from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse, WarehouseError
from finance_pipeline_tests.warehouse.support import SESSIONS

# --------------------------------------------------------------------------- errors


def test_bad_sql_gives_a_one_line_warehouse_error(lake: Lake) -> None:
    with Warehouse(lake.root) as warehouse:
        with pytest.raises(WarehouseError) as parse:
            warehouse.query("SELEC * FROM daily_bars")
        assert "Parser Error" in str(parse.value) and "\n" not in str(parse.value)
        with pytest.raises(WarehouseError, match=r"Catalog Error.*no_such_view"):
            warehouse.query("SELECT * FROM no_such_view")


def test_lake_root_that_does_not_exist_or_is_a_file(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="does not exist"):
        Warehouse(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(WarehouseError, match="not a directory"):
        Warehouse(str(tmp_path / "file"))


def test_read_only_warehouse_reads_without_writing(daily_lake: Lake) -> None:
    with Warehouse(daily_lake.root, read_only=True) as warehouse:
        assert warehouse.query("SELECT count(*) AS n FROM daily_bars")["n"][0].as_py() == 3 * len(
            SESSIONS
        )
    assert not (Path(daily_lake.root) / "warehouse.duckdb").exists()
