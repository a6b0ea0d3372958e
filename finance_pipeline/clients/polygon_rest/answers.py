"""Answers that are HTTP 200 with valid JSON and still not data: the transport retries them
under its one retry policy, like a 5xx, so the official client never sees them.

- `"results": null` (seen from the real service on grouped daily and aggregates): client
  1.16.3 would raise AttributeError/TypeError from inside its models;
- an empty whole-market answer (grouped daily without results) for a trading session: real
  data always has thousands of rows, so an empty one is an outage or not published yet.
A non-JSON body is caught by the transport itself. Weekends and holidays legitimately answer
grouped daily with no results and are left alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from finance_pipeline.calendar import is_session


def _grouped_day(url: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    except ValueError:
        return None


def invalid_answer(endpoint: str, url: str, body: Any) -> str | None:
    """Why a parsed 200 body is not usable data, or None when it is."""
    if not isinstance(body, dict):
        return None  # e.g. market holidays: a bare JSON array
    if "results" in body and body["results"] is None:
        return (
            "HTTP 200 with `results: null` (a known vendor answer; another attempt usually works)"
        )
    if endpoint == "grouped_daily" and not body.get("results"):
        day = _grouped_day(url)
        if day is not None and is_session(day):
            return (
                f"HTTP 200 with no results for trading session {day} (an empty whole-market "
                "result: not published yet, or a vendor outage)"
            )
    return None
