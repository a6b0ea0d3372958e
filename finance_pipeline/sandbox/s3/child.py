"""The S3 child process: moto's S3 server behind `Gate` (SigV4 auth, counting, the lazy
publishing hook; see the `s3` package doc).

Run as a script by `s3.server.S3Server` (`python -c ... child.py`): it imports only the
standard library, moto and werkzeug, never the package, and reads its config (access key id,
secret, admin key, whether clients are allowed, the parent's control URL and token, the key
prefix published lazily) as one JSON line on stdin; it exits when stdin closes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote

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


_SESSION_FILE = re.compile(r"/(\d{4}-\d{2}-\d{2})\.csv\.gz$")


def _withheld(key: str, config: dict[str, Any]) -> bool:
    """Whether a missing `key` is a weekday's flat file (answered 403 when absent; weekends
    are never published and answer 404 NoSuchKey)."""
    match = _SESSION_FILE.search(key)
    if not key.startswith(config["prefix"]) or match is None:
        return False
    return dt.date.fromisoformat(match.group(1)).weekday() < 5


def _xml_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>sandbox</RequestId></Error>"
    ).encode()


class Gate:
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

        if op in ("GetObject", "HeadObject") and key is not None and _withheld(key, self.config):
            return self._unpublished(environ, start_response, arrived, op, path)
        result = self.app(environ, capture)
        self._count(arrived, op, path, status_box[0] if status_box else 0)
        return result

    def _unpublished(
        self, environ: dict[str, Any], start_response: Callable, arrived: float, op: str, path: str
    ) -> Iterable[bytes]:
        """Like the vendor's S3: a session's object that is not published answers 403, not 404
        (the listing does not show it)."""
        held: list[tuple[str, list]] = []

        def hold(status: str, headers: list, exc_info: Any = None) -> Callable:
            held.append((status, headers))
            return lambda data: None

        result = self.app(environ, hold)
        if held and held[0][0].startswith("404"):
            if hasattr(result, "close"):
                result.close()
            return self._deny(start_response, arrived, op, path, "AccessDenied", "Access Denied")
        start_response(*held[0])
        self._count(arrived, op, path, int(held[0][0].split()[0]))
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
        lazy = self.config["prefix"]  # the tree published on access (us_stocks_sip)
        if not (target.startswith(lazy) or lazy.startswith(target)):
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


def main() -> None:
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
    app = Gate(DomainDispatcherApplication(create_backend_app), config)
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


if __name__ == "__main__":  # pragma: no cover
    main()
