"""Shared credentials, sessions and helpers for the router tests."""

import datetime as dt

from finance_pipeline.calendar import NEW_YORK, sessions_between
from finance_pipeline.router.model import Credentials, Request, SessionPlan
from finance_pipeline.router.routing import plan

D = dt.date.fromisoformat
PAID_FILES = Credentials(rate_limit_per_minute=0, flat_files=True, free_plan=False)
PAID_NO_FILES = Credentials(rate_limit_per_minute=0, flat_files=False, free_plan=False)
FREE = Credentials(rate_limit_per_minute=5, flat_files=False, free_plan=True)
THREE = ("AAPL", "BRK.A", "KIMpL")
SP500 = tuple(f"T{i:03d}" for i in range(500))
YEAR_2024 = sessions_between(D("2024-01-01"), D("2024-12-31"))
LATER = dt.datetime(2025, 6, 2, 12, tzinfo=NEW_YORK)  # everything in 2024 is published


def ny(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def one(dataset, session, now, creds, tickers=None) -> SessionPlan:
    return plan(Request(dataset, [D(session)], tickers, now), creds).sessions[0]
