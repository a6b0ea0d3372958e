"""Universe coverage of the traded tickers."""

from __future__ import annotations

import pandas as pd

from finance_pipeline.checks.rules.coverage import universe_coverage
from finance_pipeline.checks.rules.verdicts import Severity

TICKERS = ["AAPL", "BRK.A", "KIMpL", "MSFT", "NA", "NVDA", "SPY", "XOM"]


def test_universe_coverage() -> None:
    traded = pd.Series([*TICKERS, "ZVZZT"])
    universe = pd.Series([t for t in TICKERS if t != "NA"] + ["OLD"])
    coverage = universe_coverage(universe, traded)
    assert (coverage.traded, coverage.covered, coverage.missing) == (8, 7, 1)
    assert coverage.missing_tickers == ["NA"] and coverage.not_traded == 1
    assert coverage.verdict(min_share=0.8, error_share=0.5).passed
    warn = coverage.verdict(min_share=0.95, error_share=0.5)
    assert warn.severity is Severity.WARN and not warn.passed
    assert warn.metadata["offenders"] == "NA"
    error = universe_coverage(pd.Series(["AAPL"]), traded).verdict(0.95, 0.5)
    assert error.severity is Severity.ERROR and not error.passed
