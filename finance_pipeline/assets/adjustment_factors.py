"""adjustment_factors: per session and ticker, the cumulative split and dividend factors the
`daily_bars_adjusted` view applies, next to the vendor's own `historical_adjustment_factor`.

For a session D and a ticker, over the ticker's stored corporate actions dated after D:
- split_factor = product of split_to / split_from (raw price / split_factor is Polygon's
  adjusted=true price; on its execution_date a stock already trades post-split);
- dividend_factor = product of (1 - cash_amount / close of the session before the ex-date),
  both unadjusted (CRSP's backward factor); an ex-date whose previous close is not stored, or
  whose cash is not below it, contributes 1;
- vendor_split_factor = 1 / historical_adjustment_factor of the first split after D (the
  vendor's cumulative factor of that split and every later one), 1 when there is none;
  vendor_dividend_factor = the historical_adjustment_factor of the first dividend after D.
The warehouse view computes the same factors at read time (a test proves them equal); this
asset stores them so they can be checked against the vendor's and seen in the UI. Factors
depend on later events: re-materialize earlier sessions after new corporate actions
(`finance-pipeline backfill`), as the view itself never goes stale.
"""

import datetime as dt
from collections.abc import Iterable

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
from finance_pipeline.calendar import SessionError, partition_key, previous_session
from finance_pipeline.lake import Lake
from finance_pipeline.partitions import TRADING_SESSIONS
from finance_pipeline.registry import ADJUSTMENT_FACTORS, DAILY_BARS, DIVIDENDS, SPLITS
from finance_pipeline.resources.lake import LakeResource
from finance_pipeline.resources.parquet_io_manager import table_schema

GROUP = "curated"
SESSIONS_PER_RUN = 260
_EVENT_COLUMNS = ["ticker", "day", "kind", "split_ratio", "dividend_factor", "vendor"]


def _stored(lake: Lake, dataset: str, key: str, order: list[str]) -> pd.DataFrame:
    """Every stored row of a corporate-action dataset, one per (ticker, key) like the views."""
    sessions = lake.stored_sessions(dataset)
    if not sessions:
        return schemas.DATASETS[dataset].empty_table().to_pandas()
    frame = lake.read_many(dataset, sessions).to_pandas()
    frame = frame.sort_values(["ticker", key, *order], na_position="last", kind="stable")
    return frame.drop_duplicates(["ticker", key])


def prior_closes(lake: Lake, days: Iterable[dt.date]) -> dict[tuple[str, dt.date], float]:
    """(ticker, ex-date) -> close of the session before the ex-date, where daily_bars has it."""
    closes: dict[tuple[str, dt.date], float] = {}
    for day in sorted(set(days)):
        try:
            prior = previous_session(day)
        except SessionError:
            continue
        if not lake.exists(DAILY_BARS, prior):
            continue
        bars = lake.read_columns(DAILY_BARS, prior, ["ticker", "close"]).to_pandas()
        closes.update({(t, day): c for t, c in zip(bars["ticker"], bars["close"], strict=True)})
    return closes


def dividend_event_factor(cash: float, prior_close: float | None) -> float:
    """1 - cash / prior close; 1 when the close is missing or the cash is not below it."""
    if prior_close is None or not prior_close > 0 or not 0 <= cash < prior_close:
        return 1.0
    return 1.0 - cash / prior_close


def corporate_events(lake: Lake) -> pd.DataFrame:
    """One row per stored split or dividend: ticker, day, kind, split_ratio, dividend_factor
    (this event's own factors) and vendor (its historical_adjustment_factor)."""
    splits = _stored(lake, SPLITS, "execution_date", ["id", "split_from", "split_to"])
    dividends = _stored(lake, DIVIDENDS, "ex_dividend_date", ["id", "cash_amount"])
    splits = splits[(splits["split_from"] > 0) & (splits["split_to"] > 0)]
    closes = prior_closes(lake, dividends["ex_dividend_date"])
    split_rows = pd.DataFrame(
        {
            "ticker": splits["ticker"],
            "day": splits["execution_date"],
            "kind": "split",
            "split_ratio": splits["split_to"] / splits["split_from"],
            "dividend_factor": 1.0,
            "vendor": splits["historical_adjustment_factor"],
        }
    )
    own = [
        dividend_event_factor(cash, closes.get((ticker, day)))
        for ticker, day, cash in zip(
            dividends["ticker"],
            dividends["ex_dividend_date"],
            dividends["cash_amount"],
            strict=True,
        )
    ]
    dividend_rows = pd.DataFrame(
        {
            "ticker": dividends["ticker"],
            "day": dividends["ex_dividend_date"],
            "kind": "dividend",
            "split_ratio": 1.0,
            "dividend_factor": np.array(own, dtype="float64"),
            "vendor": dividends["historical_adjustment_factor"],
        }
    )
    frames = [f for f in (split_rows, dividend_rows) if len(f)]
    if not frames:
        return pd.DataFrame({c: [] for c in _EVENT_COLUMNS})
    return pd.concat(frames, ignore_index=True).sort_values(["ticker", "day"], ignore_index=True)


def _first_vendor(later: pd.DataFrame, kind: str) -> pd.Series:
    """Per ticker, the vendor factor of its first event of `kind` in `later`."""
    rows = later[later["kind"] == kind].sort_values(["ticker", "day"])
    return rows.groupby("ticker", sort=True)["vendor"].first()


def factors_on(session: dt.date, events: pd.DataFrame) -> pd.DataFrame:
    """The ADJUSTMENT_FACTORS rows of `session`: tickers with an event after it, sorted."""
    later = events[events["day"] > session]
    if later.empty:
        return schemas.ADJUSTMENT_FACTORS.empty_table().to_pandas()
    grouped = later.groupby("ticker", sort=True)
    out = pd.DataFrame(
        {
            "split_factor": grouped["split_ratio"].prod(),
            "dividend_factor": grouped["dividend_factor"].prod(),
        }
    )
    vendor_split = 1.0 / _first_vendor(later, "split")
    out["vendor_split_factor"] = vendor_split.reindex(out.index)
    has_split = out.index.isin(vendor_split.index)
    out.loc[~has_split, "vendor_split_factor"] = 1.0
    vendor_dividend = _first_vendor(later, "dividend")
    out["vendor_dividend_factor"] = vendor_dividend.reindex(out.index)
    out.loc[~out.index.isin(vendor_dividend.index), "vendor_dividend_factor"] = 1.0
    out = out.rename_axis("ticker").reset_index()
    out.insert(0, "session", session)
    return out


@dg.asset(
    name=ADJUSTMENT_FACTORS,
    group_name=GROUP,
    owners=OWNERS,
    tags=asset_tags("curated"),
    metadata={"dagster/column_schema": table_schema(schemas.ADJUSTMENT_FACTORS)},
    kinds={"parquet"},
    partitions_def=TRADING_SESSIONS,
    io_manager_key=IO_MANAGER_KEY,
    deps=[SPLITS, DIVIDENDS, DAILY_BARS],
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=SESSIONS_PER_RUN),
    description=(
        "Per session and ticker, the cumulative split and dividend factors daily_bars_adjusted "
        "applies (from every stored split and dividend after the session; dividend factors "
        "from daily_bars' previous close), beside the vendor's historical_adjustment_factor "
        "in the same convention. Checked against the vendor's factor, split and dividend "
        "apart. Re-materialize earlier sessions after new corporate actions."
    ),
)
def adjustment_factors(context: dg.AssetExecutionContext, lake: LakeResource) -> pa.Table:
    events = corporate_events(lake.get_lake())
    sessions = run_sessions(context)
    frames = [factors_on(session, events) for session in sessions]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    table = schemas.to_table(
        frame.reindex(columns=schemas.ADJUSTMENT_FACTORS.names),
        schemas.ADJUSTMENT_FACTORS,
        ADJUSTMENT_FACTORS,
    )
    per_session = {
        partition_key(session): {"dagster/row_count": len(f), "tickers": int(f["ticker"].nunique())}
        for session, f in zip(sessions, frames, strict=True)
    }
    record_figures(
        context,
        per_session,
        {
            "dagster/row_count": table.num_rows,
            "events": len(events),
            "split_events": int((events["kind"] == "split").sum()),
            "dividend_events": int((events["kind"] == "dividend").sum()),
        },
    )
    return table
