"""FakePolygon: a small real HTTP server on 127.0.0.1 that speaks Polygon's shapes.

It can queue scripted answers (503 bursts, 429 with Retry-After, hangs, bad JSON) and logs every
request it receives, so a client's own counters are checked against what actually arrived.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from finance_pipeline.clients.polygon_rest import endpoint_name

GOOD_KEY = "good-key-7f3a9c"
HANG = "hang"


def json_answer(status: int, body) -> tuple[int, dict, bytes]:
    """A scripted answer: status, headers, JSON body."""
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
            answer = json_answer(429, {"status": "ERROR", "error": "You've exceeded the maximum"})
        elif scripted == HANG:
            self.release.wait(30)
            answer = json_answer(200, {"status": "OK", "results": []})
        elif scripted is not None:
            answer = scripted
        elif handler.headers.get("Authorization") != f"Bearer {GOOD_KEY}":
            answer = json_answer(401, {"status": "ERROR", "error": "Unknown API Key"})
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
                return json_answer(200, {"status": "OK", "resultsCount": 0, "adjusted": False})
            rows = [
                {"T": t, "o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 100.5, "t": 1, "n": 7}
                for t in self.ticker_names
            ]
            rows[0]["otc"] = True
            rows[1].pop("n")
            return json_answer(200, {"status": "OK", "resultsCount": len(rows), "results": rows})
        if path.startswith("/v2/aggs/ticker/"):
            # Two pages: the second reached through next_url on a foreign host.
            page = int(query.get("page", "1"))
            bar = {"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10.0, "vw": 1.2, "t": page}
            body = {"status": "OK", "ticker": segments[3], "results": [bar]}
            if page == 1:
                body["next_url"] = f"https://api.example.invalid{path}?page=2&cursor=abc"
            return json_answer(200, body)
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
            return json_answer(200, body)
        if path == "/v3/reference/splits":
            row = {"id": "S1", "ticker": "T000", "execution_date": "2024-01-05"}
            return json_answer(
                200, {"status": "OK", "results": [{**row, "split_from": 1, "split_to": 4}]}
            )
        if path == "/v3/reference/dividends":
            row = {
                "id": "D1",
                "ticker": "T001",
                "cash_amount": 0.25,
                "ex_dividend_date": "2024-01-05",
            }
            return json_answer(200, {"status": "OK", "results": [{**row, "frequency": 4}]})
        if path == "/v1/marketstatus/now":
            body = {
                "market": "closed",
                "earlyHours": False,
                "afterHours": False,
                "serverTime": "2024-01-05T20:00:00-05:00",
                "exchanges": {"nyse": "closed"},
            }
            return json_answer(200, body)
        return json_answer(404, {"status": "NOT_FOUND", "message": f"no route {path}"})
