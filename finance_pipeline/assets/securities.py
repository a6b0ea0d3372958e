"""securities: the point-in-time security master, built from the stored universe snapshots.

A session's partition is the whole history as known on that session: every stored snapshot
up to it, none after (no look-ahead). Each active snapshot row gets a security:
- its composite FIGI when present; rows of one company that share a FIGI (composite or share
  class) on any session join one security, so a FIGI missing on some rows does not split it;
- else `share_class:<figi>`, else `cik:<cik>:<name>` (a CIK alone is shared by share classes,
  e.g. BRK.A and BRK.B), else `ticker:<ticker>:<first session of its unbroken run>`, so a bare
  ticker that comes back after a gap is a new security.
Each (security, ticker) run of consecutive stored sessions is one row with its validity
interval; a rename is the row whose `previous_ticker` is set, a reuse a ticker on two
securities (`reused`). Ticker events are not needed: FIGIs survive renames on the vendor.
"""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.assets.common import (
    IO_MANAGER_KEY,
    OWNERS,
    asset_tags,
    record_figures,
    run_sessions,
)
from finance_pipeline.calendar import partition_key
from finance_pipeline.lake import Lake
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.registry import SECURITIES, UNIVERSE_SNAPSHOT
from finance_pipeline.resources.lake import LakeResource
from finance_pipeline.resources.parquet_io_manager import table_schema

GROUP = "curated"
SESSIONS_PER_RUN = 260
_ROW_COLUMNS = ["session", "ticker", "name", "cik", "composite_figi", "share_class_figi"]


def stored_snapshots(lake: Lake, until: dt.date) -> pd.DataFrame:
    """Active rows of every stored universe snapshot up to `until`, with `k`: the session's
    position among the stored ones (consecutive positions are consecutive snapshots)."""
    sessions = [s for s in lake.stored_sessions(UNIVERSE_SNAPSHOT) if s <= until]
    if not sessions:
        return pd.DataFrame({c: [] for c in [*_ROW_COLUMNS, "k"]})
    frame = lake.read_many(UNIVERSE_SNAPSHOT, sessions).to_pandas()
    frame = frame[frame["active"].fillna(False).astype(bool)][_ROW_COLUMNS].copy()
    frame = frame.astype(object).where(frame.notna(), None)
    frame["k"] = frame["session"].map({s: k for k, s in enumerate(sessions)})
    return frame.sort_values(["ticker", "k"], ignore_index=True)


class _Links:
    """Union-find over FIGI keys: rows sharing a composite or share-class FIGI join."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        root = self.parent.setdefault(key, key)
        while root != self.parent[root]:
            root = self.parent[root]
        self.parent[key] = root
        return root

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the composite FIGI wins as the root, so it names the security
            keep, drop = (ra, rb) if not ra.startswith("share_class:") else (rb, ra)
            self.parent[drop] = keep


def security_ids(rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(security_id, id_source) of every row of `stored_snapshots` (sorted by ticker, k)."""
    links = _Links()
    for composite, share in zip(rows["composite_figi"], rows["share_class_figi"], strict=True):
        if composite and share:
            links.join(composite, f"share_class:{share}")
    run_start = _run_starts(rows)
    ids, sources = [], []
    for row, start in zip(rows.itertuples(index=False), run_start, strict=True):
        if row.composite_figi or row.share_class_figi:
            key = row.composite_figi or f"share_class:{row.share_class_figi}"
            root = links.find(key)
            ids.append(root)
            sources.append(
                "share_class_figi" if root.startswith("share_class:") else "composite_figi"
            )
        elif row.cik:
            ids.append(f"cik:{row.cik}:{row.name}")
            sources.append("cik_name")
        else:
            ids.append(f"ticker:{row.ticker}:{start.isoformat()}")
            sources.append("ticker")
    return ids, sources


def _run_starts(rows: pd.DataFrame) -> list[dt.date]:
    """Per row, the first session of its ticker's unbroken run of stored snapshots."""
    k, ticker = rows["k"].to_numpy(), rows["ticker"].to_numpy()
    starts: list[dt.date] = []
    for i, session in enumerate(rows["session"]):
        fresh = i == 0 or ticker[i] != ticker[i - 1] or k[i] != k[i - 1] + 1
        starts.append(session if fresh else starts[-1])
    return starts


def build_securities(rows: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The SECURITIES rows as known on `as_of` from `stored_snapshots` rows."""
    if rows.empty:
        return schemas.SECURITIES.empty_table().to_pandas()
    rows = rows.copy()
    ids = ["name", "cik", "composite_figi", "share_class_figi"]
    rows[ids] = rows[ids].astype(object).where(rows[ids].notna(), None)  # NaN != NaN
    rows["security_id"], rows["id_source"] = security_ids(rows)
    rows = rows.sort_values(["security_id", "ticker", "k"], ignore_index=True)
    same = (rows["security_id"] == rows["security_id"].shift()) & (
        rows["ticker"] == rows["ticker"].shift()
    )
    rows["run"] = (~(same & (rows["k"] == rows["k"].shift() + 1))).cumsum()
    grouped = rows.groupby("run", sort=False)
    out = grouped.agg(
        security_id=("security_id", "first"),
        id_source=("id_source", "first"),
        ticker=("ticker", "first"),
        first_session=("session", "first"),
        last_session=("session", "last"),
        sessions=("k", "size"),
        name=("name", "last"),
        cik=("cik", "last"),
        composite_figi=("composite_figi", "last"),
        share_class_figi=("share_class_figi", "last"),
    ).reset_index(drop=True)
    out = out.sort_values(["security_id", "first_session"], ignore_index=True)
    before = out.groupby("security_id")["ticker"].shift()
    out["previous_ticker"] = before.where(before != out["ticker"])
    holders = out.groupby("ticker")["security_id"].transform("nunique")
    out["reused"] = holders.to_numpy() > 1
    out["current"] = out["last_session"] == as_of
    out.insert(0, "session", as_of)
    out["sessions"] = out["sessions"].astype(np.int64)
    return out.astype(object).where(out.notna(), None).reindex(columns=schemas.SECURITIES.names)


@dg.asset(
    name=SECURITIES,
    group_name=GROUP,
    owners=OWNERS,
    tags=asset_tags("curated"),
    metadata={"dagster/column_schema": table_schema(schemas.SECURITIES)},
    kinds={"parquet"},
    partitions_def=TRADING_SESSIONS,
    io_manager_key=IO_MANAGER_KEY,
    deps=[UNIVERSE_SNAPSHOT],
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=SESSIONS_PER_RUN),
    description=(
        "Point-in-time security master: per as-of session, every security (composite FIGI, "
        "else share-class FIGI, CIK+name or ticker+first session) with each ticker it held "
        "and the sessions it held it, from every stored universe snapshot up to the session. "
        "Renames keep one security (previous_ticker); a reused ticker is two (reused). The "
        "views security_history and ticker_on read the latest stored session."
    ),
)
def securities(context: dg.AssetExecutionContext, lake: LakeResource) -> pa.Table:
    sessions = run_sessions(context)
    snapshots = stored_snapshots(lake.get_lake(), max(sessions))
    frames = [build_securities(snapshots[snapshots["session"] <= s], s) for s in sessions]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = schemas.to_table(
        frame.reindex(columns=schemas.SECURITIES.names), schemas.SECURITIES, SECURITIES
    )
    per_session = {partition_key(s): _figures(f) for s, f in zip(sessions, frames, strict=True)}
    record_figures(context, per_session, {"dagster/row_count": table.num_rows})
    return table


def _figures(frame: pd.DataFrame) -> dict[str, int]:
    return {
        "dagster/row_count": len(frame),
        "distinct_securities": int(frame["security_id"].nunique()),
        "renames": int(frame["previous_ticker"].notna().sum()),
        "reused_tickers": int(frame.loc[frame["reused"].astype(bool), "ticker"].nunique()),
        "fallback_ids": int((frame["id_source"] != "composite_figi").sum()),
    }
