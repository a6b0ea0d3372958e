"""rest_fills: per-ticker REST minute bars for the watchlist, where flat files do not reach."""

import datetime as dt

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from finance_pipeline import schemas
from finance_pipeline.assets.common import (
    RunMetrics,
    new_york_dates,
    old_path_calls,
    run_session,
    source_asset,
)
from finance_pipeline.clients import PolygonBadRequestError, PolygonInvalidAnswerError
from finance_pipeline.registry import REST_FILLS
from finance_pipeline.resources.polygon import PolygonResource
from finance_pipeline.settings import watchlist


class RestFillsConfig(dg.Config):
    tickers: list[str] | None = Field(
        default=None,
        description=(
            "The tickers to fetch, as the planner chose them; unset: FINANCE_PIPELINE_WATCHLIST."
        ),
    )


def configured_tickers(config: RestFillsConfig) -> list[str]:
    """The configured tickers, or the environment's watchlist; de-duplicated, case kept."""
    if config.tickers is None:
        return list(watchlist())
    return list(dict.fromkeys(t.strip() for t in config.tickers if t.strip()))


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
    name=REST_FILLS,
    kinds={"polygon"},
    description=(
        "Unadjusted per-ticker MINUTE bars (Polygon aggregates, adjusted=false), one call per "
        "ticker, for the tickers in run config (the planner sends the watchlist, "
        "FINANCE_PIPELINE_WATCHLIST, for sessions the minute flat files do not cover yet; "
        "without config: the watchlist). Unknown tickers, and tickers whose answers stayed invalid "
        "(`results: null`, non-JSON) after the retries, are reported in metadata, not fatal."
    ),
)
def rest_fills(
    context: dg.AssetExecutionContext, config: RestFillsConfig, polygon: PolygonResource
) -> dg.Output[pa.Table]:
    session = run_session(context)
    tickers = configured_tickers(config)
    metrics = RunMetrics()
    schema = schemas.REST_FILLS
    if not tickers:
        raise dg.Failure("rest_fills has no tickers: set FINANCE_PIPELINE_WATCHLIST or config")

    frames: list[pd.DataFrame] = []
    unknown: list[str] = []
    empty: list[str] = []
    invalid: list[str] = []
    with metrics.polygon(polygon) as client:
        for ticker in tickers:
            try:
                raw = client.aggs(ticker, 1, "minute", session, session)
            except PolygonBadRequestError as exc:
                context.log.warning(f"rest_fills: skipping ticker {ticker!r}: {exc}")
                unknown.append(ticker)
                continue
            except PolygonInvalidAnswerError as exc:  # one ticker's bad answer, retries spent
                context.log.warning(f"rest_fills: no usable answer for {ticker!r}: {exc}")
                invalid.append(ticker)
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
        table = schemas.to_table(pd.concat(frames, ignore_index=True), schema, REST_FILLS)
    else:
        table = schema.empty_table()
    metadata = metrics.metadata(
        rows=table.num_rows,
        tickers=len(frames),
        old_path_calls=old_path_calls(len(tickers), 1),
        unknown_tickers=len(unknown),
        empty_tickers=len(empty),
        invalid_answer_tickers=len(invalid),
        tickers_without_data=", ".join(unknown + empty + invalid) or "none",
    )
    return dg.Output(table, metadata=metadata)
