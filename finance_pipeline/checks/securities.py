"""Checks on the security master (rules in `rules.symbology`), partitioned by session, reading
only the lake, none blocking: they name what the vendor's symbology got wrong.

- `renames_continue`: every rename's adjusted close continues within the price-jump tolerance
  (daily_bars' closes over adjustment_factors' split factor where stored, else raw);
- `reuses_kept_apart`: a reused ticker's securities never share a session;
- `traded_tickers_mapped`: the session's traded tickers (daily_bars) that no security holds,
  listed (WARN).
"""

import datetime as dt
from collections.abc import Callable

import dagster as dg
import pandas as pd

from finance_pipeline.checks.context import (
    lake_check,
    read_optional,
)
from finance_pipeline.checks.rules.symbology import (
    rename_verdict,
    renames,
    reuse_verdict,
    unmapped_verdict,
)
from finance_pipeline.checks.rules.vendor_defects import JUMP_THRESHOLD
from finance_pipeline.checks.rules.verdicts import Verdict
from finance_pipeline.lake import Lake
from finance_pipeline.registry import ADJUSTMENT_FACTORS, DAILY_BARS, SECURITIES


def _master(lake: Lake, session: dt.date) -> pd.DataFrame | None:
    table = read_optional(lake, SECURITIES, session)
    return None if table is None else table.to_pandas()


def _adjusted_closes(lake: Lake, session: dt.date) -> dict[str, float]:
    bars = read_optional(lake, DAILY_BARS, session)
    if bars is None:
        return {}
    closes = bars.to_pandas().set_index("ticker")["close"]
    factors = read_optional(lake, ADJUSTMENT_FACTORS, session)
    if factors is not None:
        split = factors.to_pandas().set_index("ticker")["split_factor"]
        closes = closes / split.reindex(closes.index).fillna(1.0)
    return closes.to_dict()


def continuity(lake: Lake, master: pd.DataFrame, session: dt.date) -> Verdict:
    closes: dict[tuple[str, dt.date], float] = {}
    for old, new, last, first in renames(master):
        for ticker, day in ((old, last), (new, first)):
            value = _adjusted_closes(lake, day).get(ticker)
            if value is not None:
                closes[(ticker, day)] = value
    return rename_verdict(master, closes, session)


def mapped(lake: Lake, master: pd.DataFrame, session: dt.date) -> Verdict:
    bars = read_optional(lake, DAILY_BARS, session)
    if bars is None:
        return Verdict.ok(f"{DAILY_BARS} {session} is not stored", skipped=1)
    return unmapped_verdict(master, bars.column("ticker").to_pylist(), session)


def _evaluate(
    rule: Callable[[Lake, pd.DataFrame, dt.date], Verdict],
) -> Callable[[Lake, dt.date], Verdict]:
    def evaluate(lake: Lake, session: dt.date) -> Verdict:
        master = _master(lake, session)
        if master is None:
            return Verdict.ok(f"{SECURITIES} {session} is not stored", skipped=1)
        return rule(lake, master, session)

    return evaluate


def _check(
    rule: Callable[[Lake, pd.DataFrame, dt.date], Verdict], name: str, description: str
) -> dg.AssetChecksDefinition:
    return lake_check(
        _evaluate(rule),
        asset=SECURITIES,
        name=name,
        description=description,
        blocking=False,
        reads=(DAILY_BARS, ADJUSTMENT_FACTORS),
    )


SECURITY_CHECKS = [
    _check(
        continuity,
        "renames_continue",
        f"Across every rename the adjusted close continues: the new ticker's first within "
        f"{JUMP_THRESHOLD:g}x of the old ticker's last, either way (the price-jump tolerance).",
    ),
    _check(
        lambda lake, master, session: reuse_verdict(master, session),
        "reuses_kept_apart",
        "A ticker reused by another company is two securities whose intervals never overlap: "
        "never one series across its gap.",
    ),
    _check(
        mapped,
        "traded_tickers_mapped",
        "Tickers traded on the session (daily_bars) that no security holds, listed: reference "
        "data leaves them out (a known vendor defect). WARN.",
    ),
]
