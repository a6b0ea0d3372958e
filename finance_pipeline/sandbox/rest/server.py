"""The sandbox's threaded HTTP server (stdlib `http.server`) on 127.0.0.1 around a RestApi:
request parsing, the order of checks (auth, rate limit, transport faults, endpoint), JSON
answers, hung and slow requests, token-guarded control paths, clean shutdown.

Connections run in threads named `sandbox-rest:{port}:connection` (tests find a sandbox's
threads by its port); `stop()` releases hung requests and closes kept-alive connections.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import select
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from finance_pipeline.sandbox.faults import INVALID_ANSWERS, TransportFault
from finance_pipeline.sandbox.rest.accounting import RequestRecord
from finance_pipeline.sandbox.rest.api import RestApi
from finance_pipeline.sandbox.rest.protocol import (
    HttpError,
    Query,
    Response,
    error_body,
    invalid_answer,
    rate_limited,
)

logger = logging.getLogger(__name__)
CONTROL_PREFIX = "/_sandbox/"
HOST = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, api: RestApi, stop: threading.Event) -> None:
        self.api = api
        self.stop_event = stop
        self._conn_lock = threading.Lock()
        self.connections: dict[threading.Thread, socket.socket] = {}
        super().__init__((HOST, 0), _Handler)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"sandbox-rest:{self.server_address[1]}:connection",
            daemon=True,
        )
        with self._conn_lock:
            self.connections[thread] = request
        thread.start()

    def _serve_connection(self, request, client_address) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conn_lock:
                self.connections.pop(threading.current_thread(), None)

    def handle_error(self, request, client_address) -> None:
        # A client that went away mid-answer is normal here; anything else is a sandbox bug.
        if not isinstance(sys.exc_info()[1], OSError):
            logger.error("sandbox REST server error:\n%s", traceback.format_exc())

    def close_connections(self, timeout: float = 5.0) -> None:
        with self._conn_lock:
            items = list(self.connections.items())
        for _thread, sock in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread, _sock in items:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    stamp: float  # the request's time in the request log

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines can carry ?apiKey=...; never log them

    def do_GET(self) -> None:
        api = self.server.api
        self.stamp = time.monotonic()  # replaced by the rate limiter's decision time
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        if split.path.startswith(CONTROL_PREFIX):
            self._control(split.path, headers)
            return
        endpoint, params = api.route(split.path)
        response = self._answer(api, endpoint, params, query, headers)
        # Recorded before answering, so a client that got its answer sees itself counted.
        status = 0 if response is None else response.status
        api.counters.record(RequestRecord(self.stamp, endpoint, status, split.path))
        if response is None:  # hung, then dropped: no answer at all
            self.close_connection = True
            return
        self._send(response)

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        if split.path.startswith(CONTROL_PREFIX):
            self._control(split.path, headers, payload)
            return
        self.do_GET()

    def _answer(
        self,
        api: RestApi,
        endpoint: str,
        params: list[str],
        query: Query,
        headers: dict[str, str],
    ) -> Response | None:
        try:
            key = api.check_auth(api.api_key_of(headers, query))
            self.stamp, wait = api.limiter.admit(key)
            if wait is not None:
                raise rate_limited(wait)
            fault = api.transport_fault(endpoint)
            if fault is not None:
                early = self._apply_fault(api, fault)
                if early is not None or fault.kind == "hang":
                    return early
            return api.dispatch(endpoint, params, query)
        except HttpError as error:
            extra = {}
            if error.retry_after is not None and api.config.send_retry_after:
                extra["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
            return Response(error.status, error.body, extra)
        except Exception as exc:  # a sandbox bug: say so, without a traceback to the client
            logger.error("sandbox REST handler failed:\n%s", traceback.format_exc())
            return Response(500, error_body(f"internal sandbox error: {type(exc).__name__}"))

    def _apply_fault(self, api: RestApi, fault: TransportFault) -> Response | None:
        stop = self.server.stop_event
        if fault.kind == "error":
            return Response(fault.status, error_body(f"injected server error ({fault.status})"))
        if fault.kind == "rate_limit":
            raise rate_limited(api.config.window_seconds)
        if fault.kind in INVALID_ANSWERS:
            return invalid_answer(fault.kind)
        if fault.kind == "slow":
            stop.wait(fault.seconds)
            return None
        # hang: hold until the client disconnects, the sandbox stops, or the bound passes
        deadline = time.monotonic() + fault.seconds
        while not stop.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    peek = b""
                if not peek:
                    return None
                stop.wait(0.05)
        if stop.is_set():
            return None
        return Response(504, error_body("injected hang reached its bound"))

    def _send(self, response: Response) -> None:
        if isinstance(response.body, bytes):  # a non-JSON fault
            data, kind = response.body, "text/html"
        else:
            data = json.dumps(response.body, separators=(",", ":")).encode()
            kind = "application/json"
        self.send_response(response.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _control(self, path: str, headers: dict[str, str], payload: bytes = b"") -> None:
        """Private endpoints for the sandbox's own S3 side (token-guarded, never counted)."""
        api = self.server.api
        if headers.get("x-sandbox-token") != api.config.control_token:
            self._send(Response(403, error_body("forbidden")))
            return
        if path == CONTROL_PREFIX + "ensure" and api.ensure_flat_files is not None:
            request = json.loads(payload or b"{}")
            api.ensure_flat_files(request.get("prefix"), request.get("key"))
            self._send(Response(200, {"status": "OK"}))
            return
        self._send(Response(404, error_body("unknown control path")))


class RestServer:
    """The threaded HTTP server on 127.0.0.1 (ephemeral port) around a RestApi."""

    def __init__(self, api: RestApi) -> None:
        self.api = api
        self._stop = threading.Event()
        self._httpd = _Server(api, self._stop)
        port = self._httpd.server_address[1]
        self.url = f"http://{HOST}:{port}"
        api.base_url = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-rest:{port}",  # tests find a sandbox's threads by its port
            daemon=True,
        )

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop accepting, release hung/slow requests, close kept-alive connections."""
        self._stop.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.close_connections()
        self._httpd.server_close()
