"""The security-master rules on small frames: a rename that jumps, a reused ticker joined
across its gap, tickers traded but held by no security."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from finance_pipeline.checks.rules.symbology import rename_verdict, reuse_verdict, unmapped_verdict
from finance_pipeline.checks.rules.vendor_defects import JUMP_THRESHOLD
from finance_pipeline.checks.rules.verdicts import Severity

D1, D2, D3, D4 = (dt.date(2025, 1, d) for d in (6, 7, 8, 9))


def _row(security: str, ticker: str, first: dt.date, last: dt.date, **extra) -> dict:
    base = {"security_id": security, "ticker": ticker, "first_session": first, "last_session": last}
    return {"previous_ticker": None, "reused": False, **base, **extra}


RENAMED = pd.DataFrame([_row("F", "FB", D1, D2), _row("F", "META", D3, D4, previous_ticker="FB")])


def test_a_rename_continues_within_the_jump_tolerance_or_fails_naming_it() -> None:
    ok = rename_verdict(RENAMED, {("FB", D2): 100.0, ("META", D3): 101.0}, D4)
    assert ok.passed and ok.metadata["renames"] == 1
    jump = rename_verdict(
        RENAMED, {("FB", D2): 100.0, ("META", D3): 100.0 * JUMP_THRESHOLD * 1.1}, D4
    )
    assert not jump.passed and jump.severity is Severity.ERROR and "FB->META" in jump.description
    missing = rename_verdict(RENAMED, {("FB", D2): 100.0}, D4)
    assert missing.passed and missing.metadata["unverified"] == 1


def test_a_reused_ticker_must_stay_two_intervals_apart() -> None:
    apart = pd.DataFrame(
        [_row("A", "LE", D1, D1, reused=True), _row("B", "LE", D3, D4, reused=True)]
    )
    assert (
        reuse_verdict(apart, D4).passed and reuse_verdict(apart, D4).metadata["reused_tickers"] == 1
    )
    joined = pd.DataFrame(
        [_row("A", "LE", D1, D3, reused=True), _row("B", "LE", D3, D4, reused=True)]
    )
    verdict = reuse_verdict(joined, D4)
    assert not verdict.passed and "LE" in verdict.description
    unflagged = pd.DataFrame([_row("A", "LE", D1, D1), _row("B", "LE", D3, D4)])
    assert not reuse_verdict(unflagged, D4).passed


def test_traded_tickers_held_by_no_security_are_listed() -> None:
    verdict = unmapped_verdict(RENAMED, ["META", "GHOST", "ZVZZT"], D3)
    assert not verdict.passed and verdict.severity is Severity.WARN
    assert verdict.metadata["offenders"] == "GHOST" and verdict.metadata["unmapped"] == 1
    # FB is not held on D3 any more: trading under it then is unmapped too.
    assert "FB" in unmapped_verdict(RENAMED, ["FB"], D3).metadata["offenders"]
    assert unmapped_verdict(RENAMED, ["FB"], D2).passed
