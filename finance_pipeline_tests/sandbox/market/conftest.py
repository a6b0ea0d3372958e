"""Fixtures shared by the market tests."""

from __future__ import annotations

import pytest

from finance_pipeline.sandbox.market import Market
from finance_pipeline_tests.sandbox.market.support import make_market


@pytest.fixture(scope="module")
def market() -> Market:
    return make_market()
