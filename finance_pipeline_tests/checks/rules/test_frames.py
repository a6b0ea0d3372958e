"""Frame helpers: relative differences and exchange test symbols."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from finance_pipeline.checks.rules.frames import is_test_symbol, rel_diff


def test_rel_diff_is_symmetric_and_handles_missing() -> None:
    a = pd.Series([100.0, 0.0, np.nan, np.nan, 50.0])
    b = pd.Series([101.0, 0.0, np.nan, 3.0, 50.0])
    got = rel_diff(a, b).tolist()
    assert got[0] == pytest.approx(1 / 101)
    assert got[1:] == [0.0, 0.0, 1.0, 0.0]
    assert rel_diff(b, a).tolist()[0] == pytest.approx(got[0])


def test_test_symbols() -> None:
    assert is_test_symbol("ZVZZT") and is_test_symbol("ZXZZT") and is_test_symbol("NTEST")
    assert not is_test_symbol("AAPL") and not is_test_symbol("NA")
