"""The router's request and plan types: validation, credentials, and a plan as JSON."""

import datetime as dt
import json

import pytest

from finance_pipeline.calendar import sessions_between
from finance_pipeline.registry import SOURCES
from finance_pipeline.router.model import Credentials, InvalidRequest, Request
from finance_pipeline.router.routing import plan
from finance_pipeline_tests.router.support import LATER, PAID_FILES, D, ny


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sessions": []}, "no sessions"),
        ({"now": dt.datetime(2025, 1, 2, 12)}, "timezone-aware"),
        ({"dataset": "trades"}, "unknown dataset 'trades'"),
        ({"sessions": [D("2024-12-28")]}, "2024-12-28.*weekend"),
        ({"sessions": [D("2024-12-25")]}, "2024-12-25.*holiday"),
        ({"sessions": [D("2025-01-09")]}, "2025-01-09.*closure"),
        ({"sessions": [D("2001-01-02")]}, "before the first session"),
        ({"sessions": [dt.datetime(2024, 12, 2, 9)]}, "must be dates"),
        ({"tickers": ()}, "tickers is empty"),
        ({"tickers": "AAPL"}, "not the string"),
        ({"tickers": ("AAPL", " ")}, "non-empty strings"),
        ({"market_size": 0}, "market_size must be positive"),
    ],
)
def test_invalid_requests_are_refused_clearly(kwargs, match):
    args = {"dataset": "daily_bars", "sessions": [D("2024-12-02")], "tickers": None, "now": LATER}
    with pytest.raises(InvalidRequest, match=match) as info:
        Request(**{**args, **kwargs})
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_limit_per_minute": -1, "flat_files": False, "free_plan": False}, "rate_limit"),
        ({"rate_limit_per_minute": 5, "flat_files": True, "free_plan": True}, "free"),
    ],
)
def test_impossible_credentials_are_refused(kwargs, match):
    with pytest.raises(InvalidRequest, match=match):
        Credentials(**kwargs)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, Credentials(5, flat_files=False, free_plan=True)),
        ({"FLATFILES_ACCESS_KEY_ID": "AK"}, Credentials(5, flat_files=False, free_plan=True)),
        (
            {"POLYGON_PLAN": "paid", "POLYGON_RATE_LIMIT_PER_MINUTE": "0"},
            Credentials(0, flat_files=False, free_plan=False),
        ),
        (
            {
                "POLYGON_PLAN": "Paid",
                "POLYGON_RATE_LIMIT_PER_MINUTE": "0",
                "FLATFILES_ACCESS_KEY_ID": "AK",
            },
            Credentials(0, flat_files=True, free_plan=False),
        ),
    ],
)
def test_credentials_from_env(monkeypatch, environ, expected):
    for name in ("POLYGON_PLAN", "POLYGON_RATE_LIMIT_PER_MINUTE", "FLATFILES_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert Credentials.from_env() == expected


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("POLYGON_PLAN", "gold", "POLYGON_PLAN"),
        ("POLYGON_RATE_LIMIT_PER_MINUTE", "lots", "integer"),
    ],
)
def test_credentials_from_env_refuse_bad_values(monkeypatch, name, value, match):
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidRequest, match=match):
        Credentials.from_env()


def test_request_sorts_and_deduplicates():
    days = [D("2024-12-03"), D("2024-12-02"), D("2024-12-03")]
    req = Request("daily_bars", days, ("AAPL", "MSFT", "AAPL"), LATER)
    assert req.sessions == (D("2024-12-02"), D("2024-12-03"))
    assert req.tickers == ("AAPL", "MSFT")


def test_to_dict_is_json_and_consistent():
    days = sessions_between(D("2024-12-20"), D("2024-12-31"))
    now = ny("2024-12-31T18:00")
    p = plan(Request("daily_bars", days, None, now, stored=frozenset(days[:1])), PAID_FILES)
    data = json.loads(json.dumps(p.to_dict()))
    totals = data["totals"]
    assert totals["api_calls"] == sum(s["api_calls"] for s in data["sessions"]) == p.api_calls
    assert totals["s3_gets"] == sum(s["s3_gets"] for s in data["sessions"])
    assert sum(totals["sessions_by_source"].values()) == len(data["sessions"])
    assert set(totals["sessions_by_source"]) == set(SOURCES)
    assert data["skipped"] == [days[0].isoformat()]
    assert data["request"]["now"] == now.isoformat()
    assert data["sessions"][-1]["source"] == "grouped_daily"
