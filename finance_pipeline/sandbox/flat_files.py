"""The sandbox's flat files: moto's S3 server in a child process, fed by a publisher.

Why a child process: moto keeps its S3 state in process-global backends with one global bucket
namespace, so two sandboxes in one process (a session fixture plus a fresh one) could not both
own a bucket named `flatfiles`. A child per sandbox isolates them and dies with the sandbox.

The child runs moto's WSGI app behind `_Gate`, a small middleware that
- accepts the sandbox's access key id only (the free plan's key is refused with AccessDenied,
  an unknown key with InvalidAccessKeyId, a request without SigV4 auth with AccessDenied);
- when given the client's secret, verifies the SigV4 signature of client requests as S3 does
  (Authorization header or presigned query; moto itself does not): the canonical request is
  rebuilt from the raw path and query as sent, the signed headers and x-amz-content-sha256
  (payload bytes are not hashed), and a mismatch is 403 SignatureDoesNotMatch;
- counts client S3 operations (ListObjectsV2, GetObject, HeadObject, ...) by status, readable
  through a token-guarded `/_sandbox/counters` path (the publisher's own writes use a private
  admin key and are not counted);
- before a client request touches `us_stocks_sip/...`, asks the parent to publish whatever is
  due under that prefix or key (`/_sandbox/ensure` on the REST server), so large minute files
  are generated lazily, on first list/head/get, never all at startup.

Publishing (parent side, `FlatFilePublisher`): a session's object is due once the sandbox clock
reaches publish_time New York on the calendar day after the session (plus any `late` delay);
it is put with boto3 `put_object`. Day files are published eagerly (at start, on every clock
move, on `publish_due()`); minute files lazily as above (or eagerly with
`publish_due(minute=True)`). With a live clock (`now=None`) files that fall due as real time
passes are published by the same on-access hook. Moving the clock back deletes objects that are
no longer due. An object's LastModified is the real time it was put (moto's clock), not the
sandbox clock.

Files: `us_stocks_sip/{day_aggs_v1,minute_aggs_v1}/YYYY/MM/YYYY-MM-DD.csv.gz`, header exactly
`ticker,volume,open,close,high,low,window_start,transactions`, ns timestamps, raw prices, the
same numbers as REST with adjusted=false. OTC names are not in flat files (they are not SIP
securities; grouped daily also leaves them out by default). Volumes are written as integers
when whole. gzip uses mtime=0, so the same seed gives byte-identical objects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import hmac
import io
import json
import logging
import os
import re
import selectors
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote

logger = logging.getLogger(__name__)

PREFIX = "us_stocks_sip"
DATASETS = ("day_aggs_v1", "minute_aggs_v1")
HEADER = "ticker,volume,open,close,high,low,window_start,transactions"
_START_TIMEOUT = 60.0
_CHILD_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


def object_key(dataset: str, session: dt.date, prefix: str = PREFIX) -> str:
    return f"{prefix}/{dataset}/{session:%Y}/{session:%m}/{session.isoformat()}.csv.gz"


def render_csv_gz(frame: Any, header: str = HEADER) -> bytes:
    """Bars (market columns) as Polygon's gzip CSV, deterministic bytes.

    Written by pyarrow (6x faster than pandas): shortest round-trip floats, whole numbers
    without ".0" (so volumes read as integers, as in real files), tickers unquoted.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    table = pa.table(
        {
            "ticker": pa.array(frame["ticker"].to_numpy(dtype=object), pa.string()),
            "volume": pa.array(frame["volume"].to_numpy(dtype="float64")),
            "open": pa.array(frame["open"].to_numpy(dtype="float64")),
            "close": pa.array(frame["close"].to_numpy(dtype="float64")),
            "high": pa.array(frame["high"].to_numpy(dtype="float64")),
            "low": pa.array(frame["low"].to_numpy(dtype="float64")),
            "window_start": pa.array(frame["window_start"].to_numpy(dtype="int64")),
            "transactions": pa.array(frame["transactions"].to_numpy(dtype="int64")),
        }
    )
    buffer = io.BytesIO()
    buffer.write(f"{header}\n".encode())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    pa_csv.write_csv(table, buffer, options)
    # Level 1: minute files of big universes compress 4x faster, ~25% larger.
    return gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0)


# ---- the child process ---------------------------------------------------------------------
_ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH_HEADER = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,"
    r"\s*Signature=([0-9a-f]{64})\s*"
)
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


class _AuthError(Exception):
    """A request refused before it reaches moto: S3 error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class _SigV4:
    """The SigV4 parts of one request (from its Authorization header or presigned query)."""

    key_id: str
    scope: str  # date/region/service/aws4_request
    amz_date: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool


def _parse_auth(environ: dict[str, Any]) -> _SigV4:
    """The request's SigV4 auth; _AuthError(AccessDenied) when it is missing or malformed."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if header.startswith(_ALGORITHM):
        match = _AUTH_HEADER.fullmatch(header.strip())
        if not match:
            raise _AuthError("AccessDenied", f"malformed {_ALGORITHM} Authorization header")
        credential, signed, signature = match.groups()
        amz_date = environ.get("HTTP_X_AMZ_DATE", "")
        presigned = False
    elif "X-Amz-Signature" in query:
        if query.get("X-Amz-Algorithm") != [_ALGORITHM]:
            raise _AuthError("AccessDenied", f"presigned URLs must use {_ALGORITHM}")
        credential, signed, signature, amz_date, expires = (
            (query.get(name) or [""])[0]
            for name in (
                "X-Amz-Credential",
                "X-Amz-SignedHeaders",
                "X-Amz-Signature",
                "X-Amz-Date",
                "X-Amz-Expires",
            )
        )
        presigned = True
    elif header.startswith("AWS ") or "AWSAccessKeyId" in query:
        raise _AuthError(
            "AccessDenied", "Signature Version 2 is not accepted; sign requests with SigV4 (s3v4)"
        )
    else:
        raise _AuthError("AccessDenied", "Access Denied: the request carries no SigV4 auth")
    key_id, _, scope = credential.partition("/")
    scope_parts = scope.split("/")
    if not key_id or len(scope_parts) != 4 or scope_parts[3] != "aws4_request":
        raise _AuthError(
            "AccessDenied",
            "malformed credential scope; expected KEY/YYYYMMDD/REGION/s3/aws4_request",
        )
    if not _AMZ_DATE.fullmatch(amz_date) or amz_date[:8] != scope_parts[0]:
        raise _AuthError(
            "AccessDenied",
            "missing or malformed x-amz-date, or its day differs from the credential scope",
        )
    if presigned:
        _check_expiry(amz_date, expires)
    return _SigV4(key_id, scope, amz_date, tuple(signed.split(";")), signature, presigned)


def _check_expiry(amz_date: str, expires: str) -> None:
    if not expires.isdigit():
        raise _AuthError("AccessDenied", "presigned URL without a valid X-Amz-Expires")
    signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    if dt.datetime.now(dt.UTC) > signed_at + dt.timedelta(seconds=int(expires)):
        raise _AuthError("AccessDenied", "Request has expired")


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _canonical_request(environ: dict[str, Any], auth: _SigV4) -> str:
    """SigV4's canonical request of an S3 request, rebuilt from what was sent."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path, _, query = raw.partition("?")
    else:  # another WSGI server: re-encode what it decoded
        path = quote(environ.get("PATH_INFO", ""), safe="/~")
        query = environ.get("QUERY_STRING", "")
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        name = unquote(name)
        if part and not (auth.presigned and name == "X-Amz-Signature"):
            pairs.append((_uri_encode(name), _uri_encode(unquote(value))))
    headers = []
    for name in auth.signed_headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        value = " ".join(str(environ.get(key, "")).split())  # trimmed, inner runs collapsed
        headers.append(f"{name}:{value}\n")
    payload_hash = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
    if payload_hash is None:
        if not auth.presigned:
            raise _AuthError("AccessDenied", "missing x-amz-content-sha256 header")
        payload_hash = "UNSIGNED-PAYLOAD"
    return "\n".join(
        [
            environ.get("REQUEST_METHOD", "GET"),
            path or "/",
            "&".join(f"{name}={value}" for name, value in sorted(pairs)),
            "".join(headers),
            ";".join(auth.signed_headers),
            payload_hash,
        ]
    )


def _signature(secret: str, auth: _SigV4, canonical_request: str) -> str:
    """SigV4's HMAC chain: signing key from the secret and scope, then the string to sign."""
    string_to_sign = "\n".join(
        [
            _ALGORITHM,
            auth.amz_date,
            auth.scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in auth.scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _verify(environ: dict[str, Any], auth: _SigV4, secret: str) -> None:
    expected = _signature(secret, auth, _canonical_request(environ, auth))
    if not hmac.compare_digest(expected, auth.signature):
        raise _AuthError("SignatureDoesNotMatch", _SIGNATURE_MISMATCH)


def _operation(method: str, path: str, query: str) -> tuple[str, str | None, str | None]:
    """(S3 operation, key, list prefix) of a path-style request."""
    parts = path.lstrip("/").split("/", 1)
    if not parts[0]:
        return "ListBuckets", None, None
    if len(parts) == 1 or parts[1] == "":
        if method == "GET":
            args = parse_qs(query, keep_blank_values=True)
            prefix = (args.get("prefix") or [""])[0]
            if "location" in args:
                return "GetBucketLocation", None, None
            kind = "ListObjectsV2" if args.get("list-type") == ["2"] else "ListObjects"
            return kind, None, prefix
        return {"HEAD": "HeadBucket", "PUT": "CreateBucket"}.get(method, method), None, None
    key = unquote(parts[1])
    names = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
    return names.get(method, method + "Object"), key, None


def _xml_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>sandbox</RequestId></Error>"
    ).encode()


class _Gate:
    """WSGI middleware in the child: auth, counting, lazy publishing (see module doc)."""

    def __init__(self, app: Callable, config: dict[str, Any]) -> None:
        self.app = app
        self.config = config
        self.lock = threading.Lock()
        self.ops: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.log: list[tuple[float, str, str, int]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._control(environ, start_response, path)
        arrived = time.monotonic()
        method = environ.get("REQUEST_METHOD", "GET")
        op, key, prefix = _operation(method, path, environ.get("QUERY_STRING", ""))
        try:
            auth = _parse_auth(environ)
            if auth.key_id == self.config["admin_key"]:  # the publisher: not verified, not counted
                return self.app(environ, start_response)
            if auth.key_id != self.config["access_key_id"]:
                raise _AuthError(
                    "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                )
            secret = self.config.get("secret_access_key")
            if secret:
                _verify(environ, auth, secret)
        except _AuthError as denied:
            return self._deny(start_response, arrived, op, path, denied.code, denied.message)
        if not self.config["allow"]:
            return self._deny(start_response, arrived, op, path, "AccessDenied", "Access Denied")
        if op in ("GetObject", "HeadObject", "ListObjects", "ListObjectsV2"):
            self._ensure(prefix if key is None else None, key)
        status_box: list[int] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            status_box.append(int(status.split()[0]))
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        self._count(arrived, op, path, status_box[0] if status_box else 0)
        return result

    def _deny(
        self, start_response: Callable, arrived: float, op: str, path: str, code: str, msg: str
    ) -> list[bytes]:
        self._count(arrived, op, path, 403)
        body = _xml_error(code, msg)
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _count(self, arrived: float, op: str, path: str, status: int) -> None:
        with self.lock:
            self.ops[op] += 1
            self.statuses[status] += 1
            self.log.append((arrived, op, path, status))

    def _ensure(self, prefix: str | None, key: str | None) -> None:
        target = key if key is not None else prefix or ""
        if not (target.startswith(PREFIX) or PREFIX.startswith(target)):
            return
        request = urllib.request.Request(
            self.config["control_url"] + "/_sandbox/ensure",
            data=json.dumps({"prefix": prefix, "key": key}).encode(),
            headers={"X-Sandbox-Token": self.config["token"], "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                response.read()
        except OSError as exc:  # the parent is stopping; serve what is there
            print(f"sandbox S3: could not publish due files: {exc}", file=sys.stderr)

    def _control(self, environ: dict[str, Any], start_response: Callable, path: str) -> list:
        if environ.get("HTTP_X_SANDBOX_TOKEN") != self.config["token"]:
            start_response("403 Forbidden", [("Content-Length", "0")])
            return [b""]
        if path == "/_sandbox/reset":
            with self.lock:
                self.ops.clear()
                self.statuses.clear()
                self.log.clear()
        with self.lock:
            state = {"ops": dict(self.ops), "statuses": dict(self.statuses), "log": self.log}
            body = json.dumps(state).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def _child_main() -> None:
    """Entry of the child process: imports first (in parallel with the parent's own startup),
    then the config as one JSON line on stdin; exits when stdin closes."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    line = sys.stdin.readline()
    if not line:
        return
    config = json.loads(line)
    app = _Gate(DomainDispatcherApplication(create_backend_app), config)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)

    def watch_parent() -> None:
        sys.stdin.read()  # EOF: the parent closed the pipe or died
        server.shutdown()

    threading.Thread(target=watch_parent, daemon=True).start()
    print(json.dumps({"port": server.server_port}), flush=True)
    # Nobody reads our stdout after the port line: send later prints to stderr, so a full
    # pipe can never block this process.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    server.serve_forever(poll_interval=0.1)


# ---- the parent side -----------------------------------------------------------------------
@dataclass(frozen=True)
class S3Counts:
    """Client S3 operations seen by the server (publisher writes excluded)."""

    operations: Counter[str]
    statuses: Counter[int]
    log: tuple[tuple[float, str, str, int], ...]  # (monotonic, operation, path, status)


class S3Server:
    """moto's S3 server mode in a child process, on 127.0.0.1 with an ephemeral port."""

    def __init__(self) -> None:
        self._token = ""
        self._proc: subprocess.Popen | None = None
        self.url = ""

    def spawn(self) -> None:
        """Start the child; it imports moto while the parent builds the rest (see `start`)."""
        self._proc = subprocess.Popen(
            # Run this file as a script: the child needs moto, not the package's imports.
            [sys.executable, "-c", _CHILD_BOOT, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(
        self,
        *,
        access_key_id: str,
        admin_key: str,
        allow_client: bool,
        control_url: str,
        token: str,
        timeout: float = _START_TIMEOUT,
        secret_access_key: str | None = None,
    ) -> str:
        """Configure the spawned child and wait for its port; returns the endpoint URL.

        With `secret_access_key`, client requests must be signed with it (SigV4); without,
        only the access key id is checked. The admin key's requests are never verified."""
        assert self._proc is not None and self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._token = token
        config = {
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,  # sent over the pipe only, never printed
            "admin_key": admin_key,
            "allow": allow_client,
            "control_url": control_url,
            "token": token,
        }
        self._proc.stdin.write(json.dumps(config) + "\n")
        self._proc.stdin.flush()
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.stop()
                raise RuntimeError(f"sandbox S3 server did not start within {timeout:.0f} s")
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait()
            raise RuntimeError(f"sandbox S3 server exited at startup (exit code {code})")
        self.url = f"http://127.0.0.1:{json.loads(line)['port']}"
        return self.url

    def _control(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path, headers={"X-Sandbox-Token": self._token}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def counts(self) -> S3Counts:
        state = self._control("/_sandbox/counters")
        return S3Counts(
            Counter(state["ops"]),
            Counter({int(k): v for k, v in state["statuses"].items()}),
            tuple(tuple(entry) for entry in state["log"]),  # type: ignore[misc]
        )

    def reset_counts(self) -> None:
        self._control("/_sandbox/reset")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        proc.terminate()  # nothing to flush: its state dies with the sandbox
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


class FlatFilePublisher:
    """Keeps the bucket equal to "every due object, as its faults say" (see module doc)."""

    def __init__(
        self,
        *,
        client: Any,
        bucket: str,
        market: Any,
        faults: Any,
        clock: Callable[[], dt.datetime],
        publish_time: dt.time,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.market = market
        self.faults = faults
        self.clock = clock
        self.publish_time = publish_time
        self._lock = threading.RLock()
        self._state: dict[str, int] = {}  # key -> fault version published
        self.puts = 0
        listings = market.listings()
        self._otc = frozenset(listings.loc[listings["market"] == "otc", "ticker"])

    def publish_at(self, dataset: str, session: dt.date) -> dt.datetime:
        """When the object of (dataset, session) becomes visible (aware, New York)."""
        from finance_pipeline.calendar import NEW_YORK

        day = session + dt.timedelta(days=1)
        moment = dt.datetime.combine(day, self.publish_time, NEW_YORK)
        faults = self.faults.file_faults(dataset, session)
        return moment + (faults.delay if faults else dt.timedelta(0))

    def sync(
        self,
        *,
        create: Iterable[str] = ("day_aggs_v1",),
        prefix: str | None = None,
        key: str | None = None,
    ) -> int:
        """Publish due objects of the `create` datasets; republish or delete existing ones
        whose faults or due state changed. Limited to `prefix` / `key` when given. Returns the
        number of objects written or deleted."""
        create = set(create)
        now = self.clock()
        with self._lock:
            work = []
            for session in self.market.sessions:
                for dataset in DATASETS:
                    name = object_key(dataset, session)
                    if key is not None and name != key:
                        continue
                    if prefix is not None and not name.startswith(prefix):
                        continue
                    action = self._action(dataset, session, name, now, dataset in create)
                    if action is not None:
                        work.append(action)
            if len(work) > 1:
                # S3 puts wait on the child process: overlap them with rendering here.
                with ThreadPoolExecutor(4, thread_name_prefix="sandbox-publish") as pool:
                    list(pool.map(self._apply, work))
            else:
                for action in work:
                    self._apply(action)
            return len(work)

    def touch(self, dataset: str, session: dt.date) -> None:
        """A fault changed on (dataset, session): bring that object up to date now."""
        name = object_key(dataset, session)
        with self._lock:
            create = name in self._state or dataset == "day_aggs_v1"
            action = self._action(dataset, session, name, self.clock(), create)
            if action is not None:
                self._apply(action)

    def _action(
        self, dataset: str, session: dt.date, name: str, now: dt.datetime, create: bool
    ) -> tuple[str, str, dt.date, str, int] | None:
        faults = self.faults.file_faults(dataset, session)
        version = faults.version if faults else 0
        wanted = now >= self.publish_at(dataset, session) and not (faults and faults.remove)
        if wanted and self._state.get(name) != version and (create or name in self._state):
            return ("put", dataset, session, name, version)
        if not wanted and name in self._state:
            return ("delete", dataset, session, name, version)
        return None

    def _apply(self, action: tuple[str, str, dt.date, str, int]) -> None:
        kind, dataset, session, name, version = action
        if kind == "put":
            body = self.render(dataset, session)
            self.client.put_object(Bucket=self.bucket, Key=name, Body=body)
            self._state[name] = version
            self.puts += 1
        else:
            self.client.delete_object(Bucket=self.bucket, Key=name)
            self._state.pop(name, None)

    def render(self, dataset: str, session: dt.date) -> bytes:
        """The object's bytes: market bars, restated, OTC left out, file faults applied."""
        if dataset == "day_aggs_v1":
            frame = self.market.day_bars(session)
        else:
            frame = self.market.minute_bars(session)
        frame = frame[~frame["ticker"].isin(self._otc)]
        frame = self.faults.restated(dataset, session, frame)
        faults = self.faults.file_faults(dataset, session)
        header = HEADER
        if faults is not None:
            if faults.wrong_day:
                frame = frame.assign(window_start=_shift_to_next_session(frame, session))
            header = faults.header or HEADER
        body = render_csv_gz(frame, header)
        if faults is not None and faults.truncate:
            body = body[: max(10, len(body) // 2)]
        return body


def _shift_to_next_session(frame: Any, session: dt.date) -> Any:
    """window_start moved to the same New York time of day on the next session."""
    from finance_pipeline.calendar import NEW_YORK, next_session

    def midnight_ns(day: dt.date) -> int:
        return int(dt.datetime.combine(day, dt.time(), NEW_YORK).timestamp()) * 1_000_000_000

    shift = midnight_ns(next_session(session)) - midnight_ns(session)
    return frame["window_start"].astype("int64") + shift


if __name__ == "__main__":  # pragma: no cover
    _child_main()
