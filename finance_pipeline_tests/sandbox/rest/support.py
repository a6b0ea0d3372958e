"""Helpers shared by the rest tests."""

from __future__ import annotations

import datetime as dt
import json

import polygon
import urllib3

from finance_pipeline.calendar import NEW_YORK

D = dt.date.fromisoformat


def client(sb) -> polygon.RESTClient:
    return polygon.RESTClient(api_key=sb.api_key, base=sb.rest_url, retries=0)


def get(sb, path: str, key: str | None = "default", **params):
    """Raw GET without retries: (status, JSON body, headers)."""
    headers = {}
    if key == "default":
        key = sb.api_key
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    http = urllib3.PoolManager(retries=False)
    response = http.request("GET", sb.rest_url + path, fields=params or None, headers=headers)
    return response.status, json.loads(response.data), response.headers


def ms_at(day: dt.date, hour: int = 0, minute: int = 0) -> int:
    moment = dt.datetime.combine(day, dt.time(hour, minute), NEW_YORK)
    return int(moment.timestamp() * 1000)
