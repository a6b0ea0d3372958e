"""PolygonClient against a small real HTTP server on 127.0.0.1 that speaks Polygon's shapes.

The server (FakePolygon) can queue scripted answers (503 bursts, 429 with Retry-After, hangs,
bad JSON) and logs every request it receives, so the client's own counters are checked against
what actually arrived. The full sandbox market is exercised in test_polygon_sandbox.py.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest

from finance_pipeline.resources.polygon import (
    AGGS_COLUMNS,
    DIVIDENDS_COLUMNS,
    GROUPED_DAILY_COLUMNS,
    SPLITS_COLUMNS,
    TICKERS_COLUMNS,
    PolygonAuthError,
    PolygonBadRequestError,
    PolygonClient,
    PolygonNotEntitledError,
    PolygonRateLimitedError,
    PolygonResource,
    PolygonUnavailableError,
    endpoint_name,
)

GOOD_KEY = "good-key-7f3a9c"
HANG = "hang"


def _json(status: int, body) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class FakePolygon:
    """A threaded HTTP server with Polygon's paths. `script` answers are served first."""

    def __init__(self, limit: int = 0, window_seconds: float = 60.0, tickers: int = 5) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self.ticker_names = [f"T{i:03d}" for i in range(tickers)]
        self.script: deque = deque()
        self.log: list[dict] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake._handle(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakePolygon:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, endpoint: str) -> list[dict]:
        return [r for r in self.log if endpoint_name(r["path"]) == endpoint]

    # ---- request handling -------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        now = time.time()
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        entry = {"t": now, "path": parts.path, "query": query, "status": None}
        with self._lock:
            self.log.append(entry)
            recent = [r for r in self.log if now - r["t"] < self.window_seconds]
            scripted = self.script.popleft() if self.script else None
        if self.limit and len(recent) > self.limit:
            answer = _json(429, {"status": "ERROR", "error": "You've exceeded the maximum"})
        elif scripted == HANG:
            self.release.wait(30)
            answer = _json(200, {"status": "OK", "results": []})
        elif scripted is not None:
            answer = scripted
        elif handler.headers.get("Authorization") != f"Bearer {GOOD_KEY}":
            answer = _json(401, {"status": "ERROR", "error": "Unknown API Key"})
        else:
            answer = self._route(parts.path, query)
        status, headers, body = answer
        entry["status"] = status
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the client gave up (read timeout)

    def _route(self, path: str, query: dict) -> tuple[int, dict, bytes]:
        segments = path.strip("/").split("/")
        if path.startswith("/v2/aggs/grouped/"):
            day = segments[-1]
            if dt.date.fromisoformat(day).weekday() >= 5:
                return _json(200, {"status": "OK", "resultsCount": 0, "adjusted": False})
            rows = [
                {"T": t, "o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 100.5, "t": 1, "n": 7}
                for t in self.ticker_names
            ]
            rows[0]["otc"] = True
            rows[1].pop("n")
            return _json(200, {"status": "OK", "resultsCount": len(rows), "results": rows})
        if path.startswith("/v2/aggs/ticker/"):
            # Two pages: the second reached through next_url on a foreign host.
            page = int(query.get("page", "1"))
            bar = {"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10.0, "vw": 1.2, "t": page}
            body = {"status": "OK", "ticker": segments[3], "results": [bar]}
            if page == 1:
                body["next_url"] = f"https://api.example.invalid{path}?page=2&cursor=abc"
            return _json(200, body)
        if path == "/v3/reference/tickers":
            # Pages of two tickers, whatever limit says: the client must follow next_url.
            start = int(query.get("cursor", "0"))
            chunk = self.ticker_names[start : start + 2]
            rows = [
                {"ticker": t, "name": f"{t} Inc", "market": "stocks", "active": True} for t in chunk
            ]
            body = {"status": "OK", "results": rows}
            if start + 2 < len(self.ticker_names):
                body["next_url"] = f"https://api.example.invalid{path}?cursor={start + 2}"
            return _json(200, body)
        if path == "/v3/reference/splits":
            row = {"id": "S1", "ticker": "T000", "execution_date": "2024-01-05"}
            return _json(
                200, {"status": "OK", "results": [{**row, "split_from": 1, "split_to": 4}]}
            )
        if path == "/v3/reference/dividends":
            row = {
                "id": "D1",
                "ticker": "T001",
                "cash_amount": 0.25,
                "ex_dividend_date": "2024-01-05",
            }
            return _json(200, {"status": "OK", "results": [{**row, "frequency": 4}]})
        if path == "/v1/marketstatus/now":
            body = {
                "market": "closed",
                "earlyHours": False,
                "afterHours": False,
                "serverTime": "2024-01-05T20:00:00-05:00",
                "exchanges": {"nyse": "closed"},
            }
            return _json(200, body)
        return _json(404, {"status": "NOT_FOUND", "message": f"no route {path}"})


@pytest.fixture
def fake():
    with FakePolygon() as server:
        yield server


def make_client(server: FakePolygon, tmp_path, **overrides) -> PolygonClient:
    options = {
        "base_url": server.url,
        "rate_limit_per_minute": 0,
        "connect_timeout_seconds": 2.0,
        "read_timeout_seconds": 5.0,
        "max_retries": 3,
        "backoff_seconds": 0.01,
        "limiter_dir": str(tmp_path / "limiter"),
    }
    options.update(overrides)
    api_key = options.pop("api_key", GOOD_KEY)
    return PolygonClient(api_key, **options)


def assert_columns(frame, columns: dict[str, str]) -> None:
    assert list(frame.columns) == list(columns)
    assert {c: str(t) for c, t in frame.dtypes.items()} == columns


def test_grouped_daily_is_unadjusted_typed_and_counted(fake, tmp_path):
    client = make_client(fake, tmp_path)
    frame = client.grouped_daily(dt.date(2024, 1, 5))
    assert_columns(frame, GROUPED_DAILY_COLUMNS)
    assert frame["ticker"].tolist() == fake.ticker_names
    assert frame["otc"].tolist()[:2] == [True, False]
    assert frame["transactions"].isna().tolist()[:2] == [False, True]
    (request,) = fake.log
    assert request["query"]["adjusted"] == "false"
    assert request["query"]["include_otc"] == "false"
    assert client.calls == {"grouped_daily": 1}


def test_grouped_daily_without_results_keeps_columns(fake, tmp_path):
    client = make_client(fake, tmp_path)
    frame = client.grouped_daily(dt.date(2024, 1, 6))
    assert frame.empty
    assert_columns(frame, GROUPED_DAILY_COLUMNS)


def test_lists_follow_every_page_through_the_configured_base(fake, tmp_path):
    client = make_client(fake, tmp_path)
    tickers = client.tickers(dt.date(2024, 1, 5), active=True)
    assert tickers["ticker"].tolist() == fake.ticker_names
    assert_columns(tickers, TICKERS_COLUMNS)
    pages = fake.requests_to("tickers")
    assert len(pages) == 3 == client.calls["tickers"]
    first = pages[0]["query"]
    assert (first["limit"], first["market"], first["date"], first["active"]) == (
        "1000",
        "stocks",
        "2024-01-05",
        "true",
    )

    bars = client.aggs("BRK.A", 1, "day", dt.date(2024, 1, 2), dt.date(2024, 1, 5))
    assert_columns(bars, AGGS_COLUMNS)
    assert bars["timestamp"].tolist() == [1, 2]
    first = fake.requests_to("aggs")[0]
    assert first["path"] == "/v2/aggs/ticker/BRK.A/range/1/day/2024-01-02/2024-01-05"
    assert (first["query"]["adjusted"], first["query"]["limit"]) == ("false", "50000")
    assert client.calls["aggs"] == 2


def test_reference_endpoints_and_market_status(fake, tmp_path):
    client = make_client(fake, tmp_path)
    splits = client.splits(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert_columns(splits, SPLITS_COLUMNS)
    assert splits.iloc[0][["ticker", "split_from", "split_to"]].tolist() == ["T000", 1.0, 4.0]
    query = fake.requests_to("splits")[0]["query"]
    assert (query["execution_date.gte"], query["execution_date.lte"], query["limit"]) == (
        "2024-01-01",
        "2024-01-31",
        "1000",
    )
    dividends = client.dividends(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    assert_columns(dividends, DIVIDENDS_COLUMNS)
    assert fake.requests_to("dividends")[0]["query"]["ex_dividend_date.gte"] == "2024-01-01"
    status = client.market_status()
    assert status["market"] == "closed"
    assert status["exchanges"]["nyse"] == "closed"
    assert client.calls == {"splits": 1, "dividends": 1, "market_status": 1}
    assert client.total_calls == len(fake.log)


def test_a_5xx_burst_is_retried_and_every_attempt_counted(fake, tmp_path):
    fake.script.extend([_json(503, {"status": "ERROR"}), _json(502, {"status": "ERROR"})])
    client = make_client(fake, tmp_path)
    frame = client.grouped_daily(dt.date(2024, 1, 5))
    assert len(frame) == len(fake.ticker_names)
    assert [r["status"] for r in fake.log] == [503, 502, 200]
    assert client.calls["grouped_daily"] == 3
    assert client.retries["grouped_daily"] == 2
    assert client.metrics()["api_retries"] == 2


def test_429_honours_retry_after(fake, tmp_path):
    fake.script.append((429, {"Retry-After": "1"}, b'{"status":"ERROR","error":"slow down"}'))
    client = make_client(fake, tmp_path)
    client.market_status()
    first, second = fake.log
    assert first["status"] == 429 and second["status"] == 200
    assert second["t"] - first["t"] >= 0.9  # the client's own backoff is 0.01 s
    assert client.rate_limited["market_status"] == 1


def test_429_storm_past_the_budget_is_a_rate_limit_error(fake, tmp_path):
    fake.script.extend([_json(429, {"status": "ERROR", "error": "exceeded"})] * 10)
    client = make_client(fake, tmp_path, max_retries=2)
    with pytest.raises(PolygonRateLimitedError, match="after 2 retries"):
        client.market_status()
    assert client.calls["market_status"] == 3 == len(fake.log)
    assert client.rate_limited["market_status"] == 3


def test_a_hung_response_is_cut_by_the_read_timeout(fake, tmp_path):
    fake.script.extend([HANG, HANG])
    client = make_client(fake, tmp_path, read_timeout_seconds=0.3, max_retries=1)
    with pytest.raises(PolygonUnavailableError, match="timed out"):
        client.grouped_daily(dt.date(2024, 1, 5))
    assert client.calls["grouped_daily"] == 2


def test_a_200_with_broken_json_is_retried_not_silently_empty(fake, tmp_path):
    fake.script.extend([(200, {}, b'{"status":"OK","results":[{"T":')] * 2)
    client = make_client(fake, tmp_path, max_retries=1)
    with pytest.raises(PolygonUnavailableError, match="not valid JSON"):
        client.grouped_daily(dt.date(2024, 1, 5))


def test_bad_key_is_an_auth_error_without_the_key(fake, tmp_path):
    bad_key = "not-the-key-1234567"
    client = make_client(fake, tmp_path, api_key=bad_key)
    with pytest.raises(PolygonAuthError) as caught:
        client.grouped_daily(dt.date(2024, 1, 5))
    assert "Unknown API Key" in str(caught.value)
    assert bad_key not in str(caught.value) and bad_key not in repr(client)
    assert client.calls["grouped_daily"] == 1  # not retried


def test_missing_key_is_refused_before_any_request(fake, tmp_path):
    with pytest.raises(PolygonAuthError, match="POLYGON_API_KEY"):
        make_client(fake, tmp_path, api_key="  ")
    assert fake.log == []


def test_not_entitled_today_explains_the_plan(fake, tmp_path):
    body = {
        "status": "NOT_AUTHORIZED",
        "message": "Attempted to request today's data before end of day",
    }
    fake.script.append(_json(403, body))
    client = make_client(fake, tmp_path)
    with pytest.raises(PolygonNotEntitledError) as caught:
        client.grouped_daily(dt.date(2024, 1, 5))
    message = str(caught.value)
    assert "before end of day" in message and "free plans" in message
    assert client.calls["grouped_daily"] == 1


def test_bad_parameter_is_a_bad_request(fake, tmp_path):
    fake.script.append(_json(400, {"status": "ERROR", "error": "Could not parse the date"}))
    client = make_client(fake, tmp_path)
    with pytest.raises(PolygonBadRequestError, match="Could not parse the date"):
        client.aggs("AAPL", 1, "day", dt.date(2024, 1, 2), dt.date(2024, 1, 5))


def test_an_echoed_key_is_redacted_from_messages(fake, tmp_path):
    fake.script.append(_json(400, {"status": "ERROR", "error": f"bad apiKey {GOOD_KEY}"}))
    client = make_client(fake, tmp_path)
    with pytest.raises(PolygonBadRequestError) as caught:
        client.market_status()
    assert GOOD_KEY not in str(caught.value) and "***" in str(caught.value)


def test_connection_refused_is_unavailable(tmp_path):
    with FakePolygon() as server:
        url = server.url
    client = PolygonClient(
        GOOD_KEY, base_url=url, rate_limit_per_minute=0, max_retries=1, backoff_seconds=0.01
    )
    with pytest.raises(PolygonUnavailableError, match="connection failed"):
        client.market_status()
    assert client.calls["market_status"] == 2


def test_resource_reads_the_key_from_env_and_never_shows_it(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_POLYGON_KEY", GOOD_KEY)
    resource = PolygonResource(
        api_key=dg.EnvVar("TEST_POLYGON_KEY"),
        base_url=fake.url,
        rate_limit_per_minute=0,
        limiter_dir=str(tmp_path),
    )
    seen = {}

    @dg.asset
    def market(polygon: PolygonResource) -> dg.MaterializeResult:
        client = polygon.get_client()
        seen["status"] = client.market_status()["market"]
        seen["text"] = f"{polygon!r} {polygon} {client!r}"
        return dg.MaterializeResult(metadata=client.metrics())

    with dg.instance_for_test() as instance:
        result = dg.materialize([market], resources={"polygon": resource}, instance=instance)
        assert result.success
        (event,) = result.get_asset_materialization_events()
        metadata = event.materialization.metadata
    assert seen["status"] == "closed"
    assert metadata["api_calls"].value == 1
    assert GOOD_KEY not in seen["text"]
    assert GOOD_KEY not in repr(resource)
