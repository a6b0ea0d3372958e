"""The security-master views on a small lake: a rename joined into one history, a reused
ticker never joined across its gap, and a bad bars file failing only security_history."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from finance_pipeline.assets.securities import build_securities
from finance_pipeline.lake import Lake
from finance_pipeline.warehouse import Warehouse, WarehouseError
from finance_pipeline_tests.warehouse.support import SESSIONS


def _snapshot_rows() -> pd.DataFrame:
    """AAA is renamed BBB from session 5; BRK.A is a bare ticker that leaves for session 3
    and comes back as another (id-less) security."""
    rows = []
    for k, session in enumerate(SESSIONS):
        ticker = "AAA" if k < 5 else "BBB"
        rows.append((session, ticker, "Co", "0001", "BBG000000001", "BBG000000002", k))
        if k != 3:
            rows.append((session, "BRK.A", "Bare", None, None, None, k))
    columns = ["session", "ticker", "name", "cik", "composite_figi", "share_class_figi", "k"]
    return pd.DataFrame(rows, columns=columns).sort_values(["ticker", "k"], ignore_index=True)


@pytest.fixture
def master_lake(daily_lake: Lake) -> Lake:
    master = build_securities(_snapshot_rows(), SESSIONS[-1])
    daily_lake.write("securities", SESSIONS[-1], master)
    return daily_lake


def test_history_follows_the_rename_and_splits_the_reused_ticker(master_lake: Lake) -> None:
    with Warehouse(master_lake) as wh:
        renamed = wh.query_df(
            "select ticker, count(*) as n from security_history "
            "where security_id = 'BBG000000001' group by all order by ticker"
        )
        bare = wh.query_df(
            "select security_id, count(*) as n from security_history where ticker = 'BRK.A' "
            "group by all order by security_id"
        )
        on = wh.query_df(f"select * from ticker_on('BRK.A', DATE '{SESSIONS[4]}')")
        gap = wh.query_df(f"select * from ticker_on('BRK.A', DATE '{SESSIONS[3]}')")
    # daily_lake has bars for AAA and BBB on every session: only their own interval joins.
    assert renamed.to_dict("list") == {"ticker": ["AAA", "BBB"], "n": [5, len(SESSIONS) - 5]}
    assert bare["n"].tolist() == [3, len(SESSIONS) - 4]
    assert len(on) == 1 and on["security_id"][0] == f"ticker:BRK.A:{SESSIONS[4]}"
    assert gap.empty


def test_a_bad_bars_file_fails_only_security_history(master_lake: Lake) -> None:
    bad = Path(master_lake.uri("daily_bars", SESSIONS[2]))
    bad.write_bytes(b"not parquet at all" * 10)
    with Warehouse(master_lake) as wh:
        assert len(wh.query_df("select * from security_master")) == 4
        with pytest.raises(WarehouseError) as excinfo:
            wh.read("select count(*) from security_history")
        assert "security_history cannot be built" in str(excinfo.value)
