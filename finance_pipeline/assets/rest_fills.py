"""rest_fills: per-ticker REST minute bars for the watchlist, where flat files do not reach."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pyarrow as pa

from finance_pipeline import router, schemas
from finance_pipeline.assets.common import (
    RunMetrics,
    new_york_dates,
    old_path_calls,
    run_session,
    source_asset,
)
from finance_pipeline.resources.polygon import PolygonBadRequestError, PolygonResource
from finance_pipeline.settings import env


class RestFillsConfig(dg.Config):
    tickers: list[str] | None = None  # None: FINANCE_PIPELINE_WATCHLIST
    force: bool = False  # fetch even when the router says flat files cover the session


def watchlist(configured: list[str] | None) -> list[str]:
    """The configured tickers, or the environment's watchlist; de-duplicated, case kept."""
    raw = configured if configured is not None else (env("FINANCE_PIPELINE_WATCHLIST") or "")
    items = raw.split(",") if isinstance(raw, str) else raw
    return list(dict.fromkeys(t.strip() for t in items if t.strip()))


def ticker_bars(raw: pd.DataFrame, ticker: str, session: dt.date) -> pd.DataFrame:
    """One ticker's aggregates in the lake's bar shape; rows off the session are refused."""
    frame = raw.copy()
    frame["ticker"] = ticker
    frame["session"] = new_york_dates(frame["timestamp"], unit="ms")
    off = frame["session"] != session
    if off.any():
        raise dg.Failure(
            description=(
                f"REST minute bars of {ticker} for {session} include {int(off.sum())} bar(s) "
                "from other New York dates; nothing was stored"
            ),
            metadata={"ticker": ticker, "session": session.isoformat()},
        )
    frame["window_start"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms", utc=True)
    return frame


@source_asset(
    kinds={"polygon"},
    output_required=False,
    description=(
        "Unadjusted per-ticker MINUTE bars (Polygon aggregates, adjusted=false) for the "
        "watchlist (FINANCE_PIPELINE_WATCHLIST, or config tickers), one call per ticker, only "
        "for sessions the minute flat files do not cover yet according to the router (config "
        "force=true fetches anyway). A session the flat files cover is not materialized: an "
        "observation records the skip, so no empty partition poses as data. Unknown tickers "
        "are reported in metadata, not fatal."
    ),
)
def rest_fills(
    context: dg.AssetExecutionContext, config: RestFillsConfig, polygon: PolygonResource
) -> Iterator[dg.Output[pa.Table]]:
    session = run_session(context)
    tickers = watchlist(config.tickers)
    metrics = RunMetrics()
    schema = schemas.REST_FILLS
    if not tickers:
        raise dg.Failure("rest_fills has no tickers: set FINANCE_PIPELINE_WATCHLIST or config")

    now = dt.datetime.now(dt.UTC)
    source = router.best_source(
        "minute_bars", session, now, router.Credentials.from_env(), tuple(tickers)
    )
    if source == "flat_file" and not config.force:
        context.log.info(
            f"{session}: minute flat files cover this session (router); no REST calls made"
        )
        metadata = metrics.metadata(
            rows=0, tickers=0, old_path_calls=old_path_calls(len(tickers), 1), routed_to=source
        )
        metadata.pop("dagster/row_count")  # nothing was stored
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key, partition=context.partition_key, metadata=metadata
            )
        )
        return
    if source == "unavailable" and not config.force:
        raise dg.Failure(
            f"rest_fills for {session}: minute bars are not available yet (router); "
            "retry later or run with force=true"
        )

    frames: list[pd.DataFrame] = []
    unknown: list[str] = []
    empty: list[str] = []
    with metrics.polygon(polygon) as client:
        for ticker in tickers:
            try:
                raw = client.aggs(ticker, 1, "minute", session, session)
            except PolygonBadRequestError as exc:
                context.log.warning(f"rest_fills: skipping ticker {ticker!r}: {exc}")
                unknown.append(ticker)
                continue
            if raw.empty:
                empty.append(ticker)
                continue
            frames.append(ticker_bars(raw, ticker, session))
    if empty:
        context.log.warning(
            f"rest_fills {session}: no minute bars for {', '.join(empty)} "
            "(unknown ticker, not listed that day, or no trades)"
        )
    if frames:
        table = schemas.to_table(pd.concat(frames, ignore_index=True), schema, "rest_fills")
    else:
        table = schema.empty_table()
    metadata = metrics.metadata(
        rows=table.num_rows,
        tickers=len(frames),
        old_path_calls=old_path_calls(len(tickers), 1),
        routed_to=source,
        unknown_tickers=len(unknown),
        empty_tickers=len(empty),
        tickers_without_data=", ".join(unknown + empty) or "none",
    )
    yield dg.Output(table, metadata=metadata)
