"""Rules on the security master (`securities`), frames in, Verdicts out:

- `rename_verdict`: across each rename the adjusted series continues: the new ticker's first
  adjusted close against the old ticker's last, within the price-jump check's tolerance
  (`vendor_defects.JUMP_THRESHOLD`) either way;
- `reuse_verdict`: a ticker held by several securities is never joined across its gap: their
  intervals for it do not overlap, and each is flagged `reused`;
- `unmapped_verdict`: tickers traded on the session that no security holds then (reference
  data leaves them out: a known vendor defect), listed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd

from finance_pipeline.checks.rules.frames import drop_test_symbols
from finance_pipeline.checks.rules.vendor_defects import JUMP_THRESHOLD
from finance_pipeline.checks.rules.verdicts import Verdict, offenders_text


def renames(master: pd.DataFrame) -> list[tuple[str, str, dt.date, dt.date]]:
    """(old ticker, new ticker, old's last session, new's first session) of every rename."""
    out = []
    for row in master[master["previous_ticker"].notna()].itertuples():
        same = master[(master["security_id"] == row.security_id)]
        old = same[
            (same["ticker"] == row.previous_ticker) & (same["last_session"] < row.first_session)
        ]
        if len(old):
            out.append(
                (row.previous_ticker, row.ticker, old["last_session"].max(), row.first_session)
            )
    return out


def rename_verdict(
    master: pd.DataFrame, closes: Mapping[tuple[str, dt.date], float], session: dt.date
) -> Verdict:
    """`closes`: adjusted closes by (ticker, session), where stored."""
    found = renames(master)
    jumps, unverified = [], 0
    for old, new, last, first in found:
        before, after = closes.get((old, last)), closes.get((new, first))
        if not before or not after:
            unverified += 1
            continue
        ratio = after / before
        if not 1 / JUMP_THRESHOLD <= ratio <= JUMP_THRESHOLD:
            jumps.append(f"{old}->{new} {last}..{first} x{ratio:.3g}")
    figures = {"renames": len(found), "jumps": len(jumps), "unverified": unverified}
    if jumps:
        text = f"{len(jumps)} rename(s) as of {session} jump beyond {JUMP_THRESHOLD:g}x: "
        return Verdict.error(
            text + "; ".join(jumps[:10]), **figures, offenders=", ".join(jumps[:10])
        )
    return Verdict.ok(f"{len(found)} rename(s) as of {session} continue", **figures)


def reuse_verdict(master: pd.DataFrame, session: dt.date) -> Verdict:
    held = master.groupby("ticker")["security_id"].nunique()
    reused = sorted(held[held > 1].index)
    joined = []
    for ticker in reused:
        rows = master[master["ticker"] == ticker].sort_values("first_session")
        ends = rows["last_session"].cummax().shift()
        overlap = (rows["first_session"] <= ends).any()
        if overlap or not rows["reused"].astype(bool).all():
            joined.append(ticker)
    figures = {"reused_tickers": len(reused), "joined": len(joined)}
    if joined:
        text = f"{len(joined)} reused ticker(s) joined across securities as of {session}: "
        return Verdict.error(
            text + offenders_text(joined), **figures, offenders=offenders_text(joined)
        )
    text = f"{len(reused)} reused ticker(s) as of {session}, each kept apart"
    return Verdict.ok(text, **figures, reused=offenders_text(reused))


def unmapped_verdict(master: pd.DataFrame, traded: Iterable[str], session: dt.date) -> Verdict:
    """WARN naming the tickers traded on `session` that no security holds on it."""
    frame, _ = drop_test_symbols(pd.DataFrame({"ticker": sorted(set(traded))}))
    held = master[(master["first_session"] <= session) & (master["last_session"] >= session)]
    missing = sorted(set(frame["ticker"]) - set(held["ticker"]))
    figures = {"traded": len(frame), "unmapped": len(missing)}
    if missing:
        named = offenders_text(missing, len(missing))
        text = f"{len(missing)} ticker(s) traded on {session} in no security (no universe row): "
        return Verdict.warn(
            text + named,
            **figures,
            offenders=named,
        )
    return Verdict.ok(f"every traded ticker on {session} maps to a security", **figures)
