"""splits and dividends: corporate actions, stored raw and applied to prices at read time.

Fetched from the current `/stocks/v1/splits|dividends` endpoints (with the vendor's
`historical_adjustment_factor`); the deprecated v3 endpoints serve a run only when v1 is
refused (404 once removed, 403), said in the metadata (`endpoint`, `v1_refused`)."""

import datetime as dt
from collections.abc import Callable

import dagster as dg
import pandas as pd
import pyarrow as pa

from finance_pipeline import schemas
from finance_pipeline.assets.common import (
    RunMetrics,
    record_figures,
    run_sessions,
    source_asset,
)
from finance_pipeline.calendar import partition_key, previous_session
from finance_pipeline.clients import (
    PolygonBadRequestError,
    PolygonClient,
    PolygonNotEntitledError,
)
from finance_pipeline.registry import DIVIDENDS, SPLITS
from finance_pipeline.resources.polygon import PolygonResource

_WHY_SINGLE_RUN = (
    "A backfill runs as ONE run over its whole range and fetches it with ONE paginated query "
    "(1000 rows per page): ceil(rows/1000) calls for the range instead of one call per "
    "session. Every session of the range is written, empty where there was no event, so "
    "'no corporate action that day' is recorded instead of unknown."
)


def fetch_window(sessions: list[dt.date]) -> tuple[dt.date, dt.date]:
    """Calendar days the run's sessions own: from the day after the previous session, so an
    event dated on a weekend or holiday lands on the next session instead of being lost."""
    return previous_session(sessions[0]) + dt.timedelta(days=1), sessions[-1]


def assign_sessions(dates: pd.Series, sessions: list[dt.date]) -> pd.Series:
    """Each event date mapped to the first session on or after it (itself on a session)."""
    if dates.empty:
        return pd.Series([], dtype=object, index=dates.index)
    index = pd.DatetimeIndex([pd.Timestamp(s) for s in sessions])
    positions = index.searchsorted(pd.to_datetime(dates), side="left")
    return pd.Series([sessions[p] for p in positions], index=dates.index, dtype=object)


def _dates(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, format="ISO8601").dt.date


def normalize_actions(
    raw: pd.DataFrame,
    date_column: str,
    schema: pa.Schema,
    date_columns: tuple[str, ...],
) -> tuple[pd.DataFrame, int]:
    """Schema columns with typed dates, de-duplicated on (ticker, date_column). The row kept
    is the first in an order of every column (id first, missing ids last), so it does not
    depend on the order the vendor sent rows in, also when ids are absent (v3). Returns the
    frame and how many rows were dropped."""
    frame = raw.reindex(columns=schema.names).copy()
    for column in date_columns:
        frame[column] = _dates(frame[column])
    frame["id"] = frame["id"].astype(object).where(frame["id"].notna(), None)
    rest = [c for c in schema.names if c not in ("session", "ticker", date_column, "id")]
    order = ["ticker", date_column, "id", *rest]
    frame = frame.sort_values(order, na_position="last", kind="stable", key=_sortable)
    deduped = frame.drop_duplicates(["ticker", date_column], keep="first")
    return deduped.reset_index(drop=True), len(frame) - len(deduped)


def _sortable(column: pd.Series) -> pd.Series:
    """Dates and strings compare as text (object columns mixing None would not sort)."""
    if column.dtype == object:
        return column.map(lambda v: None if v is None else str(v))
    return column


Fetch = Callable[[PolygonClient, dt.date, dt.date], pd.DataFrame]


def fetch_with_fallback(
    client: PolygonClient, start: dt.date, end: dt.date, current: Fetch, deprecated: Fetch
) -> tuple[pd.DataFrame, str | None]:
    """The v1 answer, else (when v1 is refused) the v3 one with the refusal."""
    try:
        return current(client, start, end), None
    except (PolygonBadRequestError, PolygonNotEntitledError) as exc:
        return deprecated(client, start, end), str(exc)


def load_actions(
    context: dg.AssetExecutionContext,
    polygon: PolygonResource,
    dataset: str,
    date_column: str,
    date_columns: tuple[str, ...],
    fetch: tuple[Fetch, Fetch],
) -> dg.Output:
    """Fetch the run's whole range in one paginated query; the IO manager writes every session
    of the range from the `session` column (empty where there was no event)."""
    sessions = run_sessions(context)
    start, end = fetch_window(sessions)
    metrics = RunMetrics()
    with metrics.polygon(polygon) as client:
        raw, refused = fetch_with_fallback(client, start, end, *fetch)
    if refused:
        context.log.warning(f"{dataset}: /stocks/v1 refused, served by deprecated v3: {refused}")
    schema = schemas.DATASETS[dataset]
    frame, dropped = normalize_actions(raw, date_column, schema, date_columns)
    in_window = frame[date_column].between(start, end)
    if not in_window.all():
        context.log.warning(
            f"{dataset}: ignoring {int((~in_window).sum())} row(s) dated outside {start}..{end}"
        )
        frame = frame[in_window]
    frame = frame.assign(session=assign_sessions(frame[date_column], sessions))
    record_figures(
        context,
        _session_figures(frame, sessions),
        _run_totals(metrics, frame, sessions, dropped, _endpoint(dataset, refused)),
    )
    return dg.Output(schemas.to_table(frame, schema, dataset))


def _session_figures(frame: pd.DataFrame, sessions: list[dt.date]) -> dict[str, dict[str, object]]:
    """Each session's own events (0 where there was none); the run's one query is not split."""
    by_session = frame.groupby("session")["ticker"]
    rows, tickers = by_session.size(), by_session.nunique()
    return {
        partition_key(s): {
            "dagster/row_count": int(rows.get(s, 0)),
            "tickers": int(tickers.get(s, 0)),
        }
        for s in sessions
    }


def _run_totals(
    metrics: RunMetrics,
    frame: pd.DataFrame,
    sessions: list[dt.date],
    dropped: int,
    endpoint: dict[str, str],
) -> dict[str, object]:
    return metrics.metadata(
        rows=len(frame),
        tickers=int(frame["ticker"].nunique()),
        old_path_calls=len(sessions),  # one query per session
        sessions=len(sessions),
        duplicates_dropped=dropped,
        **endpoint,
    )


def _endpoint(dataset: str, refused: str | None) -> dict[str, str]:
    """Which endpoint served the run, and why v1 did not (\"no\" when it did)."""
    path = f"/v3/reference/{dataset}" if refused else f"/stocks/v1/{dataset}"
    return {"endpoint": path, "v1_refused": refused or "no"}


def _action_asset(
    asset: str, date_columns: tuple[str, ...], fetch: tuple[Fetch, Fetch], description: str
) -> dg.AssetsDefinition:
    """A corporate-action asset keyed by its first date column, one paginated query per run."""

    @source_asset(
        name=asset,
        kinds={"polygon"},
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=description + " " + _WHY_SINGLE_RUN,
    )
    def action(context: dg.AssetExecutionContext, polygon: PolygonResource) -> dg.Output:
        return load_actions(context, polygon, asset, date_columns[0], date_columns, fetch)

    return action


splits = _action_asset(
    SPLITS,
    ("execution_date",),
    (PolygonClient.stocks_splits, PolygonClient.splits),
    "Stock splits (Polygon /stocks/v1/splits; the deprecated /v3/reference/splits only when "
    "v1 is refused, named in the `endpoint` metadata) by execution_date, the first session "
    "that trades post-split, with adjustment_type and the vendor's cumulative "
    "historical_adjustment_factor; de-duplicated on (ticker, execution_date). Prices stay "
    "unadjusted in the lake and are adjusted at read time from this table.",
)
dividends = _action_asset(
    DIVIDENDS,
    ("ex_dividend_date", "declaration_date", "record_date", "pay_date"),
    (PolygonClient.stocks_dividends, PolygonClient.dividends),
    "Cash dividends (Polygon /stocks/v1/dividends; the deprecated /v3/reference/dividends "
    "only when v1 is refused) by ex_dividend_date, with distribution_type, "
    "split_adjusted_cash_amount and the vendor's historical_adjustment_factor; de-duplicated "
    "on (ticker, ex_dividend_date). Used for total-return adjustment at read time.",
)
