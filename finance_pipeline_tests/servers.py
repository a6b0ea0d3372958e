"""Real PostgreSQL and Redis servers for tests, started from temporary directories on free
loopback ports and stopped afterwards.

- PostgreSQL: the Debian `postgresql` package's binaries (/usr/lib/postgresql/*/bin), run as
  the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
- Redis: Debian's `redis-server`, persistence off.

A missing server raises `ServerMissing` (one line naming the package), so a caller outside
pytest (bench B7) can record it; the fixtures (`skip_or_fail_without`) skip the tests that
need it outside CI and fail them in CI (CI set), since .ci/run installs both.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerMissing(RuntimeError):
    """The server's Debian package is not installed."""


@contextlib.contextmanager
def skip_or_fail_without() -> Iterator[None]:
    """For fixtures: a missing server skips the test outside CI and fails it in CI."""
    try:
        yield
    except ServerMissing as missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI must run this test (.ci/run installs the package)")
        pytest.skip(f"{missing}; skipped outside CI")


def _postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def pg_dsn(pg: dict[str, str]) -> str:
    """A libpq URI for the DAGSTER_PG_* values of `postgres_server`."""
    return (
        f"postgresql://{pg['DAGSTER_PG_USERNAME']}:{pg['DAGSTER_PG_PASSWORD']}@"
        f"{pg['DAGSTER_PG_HOST']}:{pg['DAGSTER_PG_PORT']}/{pg['DAGSTER_PG_DB']}"
    )


@contextlib.contextmanager
def postgres_server(durable: bool = False) -> Iterator[dict[str, str]]:
    """A running PostgreSQL server with a `dagster` database; yields the DAGSTER_PG_* values.
    Tests run it with fsync off; `durable` keeps fsync on, as a production server (benchmarks)."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        raise ServerMissing(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
            "(Debian package `postgresql`)"
        )
    base = Path(tempfile.mkdtemp(prefix="finance-pipeline-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    password = secrets.token_hex(12)
    (base / "pwfile").write_text(password + "\n")
    (base / "sock").mkdir()
    if as_postgres:
        for path in [base, base / "pwfile", base / "sock"]:
            shutil.chown(path, user="postgres", group="postgres")
    data, port = base / "data", free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "dagster", "-E", "UTF8"]
    run(*initdb, "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={base / 'pwfile'}")
    options = (
        f"-p {port} -k {base / 'sock'} -c listen_addresses=127.0.0.1 "
        f"{'' if durable else '-c fsync=off '}-c max_connections=200"
    )
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-t", "60"]
    run(*pg_ctl, "-l", str(base / "server.log"), "-o", options, "start")
    try:
        createdb = [str(bin_dir / "createdb"), "-h", str(base / "sock"), "-p", str(port)]
        run(*createdb, "-U", "dagster", "dagster")
        yield {
            "DAGSTER_PG_USERNAME": "dagster",
            "DAGSTER_PG_PASSWORD": password,
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_PORT": str(port),
        }
    finally:
        run(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_binary() -> str | None:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return binary if os.access(binary, os.X_OK) else None


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A running Redis server (no persistence); yields its redis:// URL."""
    binary = _redis_binary()
    if binary is None:
        raise ServerMissing("redis-server not found (Debian package `redis-server`)")
    base = Path(tempfile.mkdtemp(prefix="finance-pipeline-redis-"))
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    process = subprocess.Popen(
        [*args, "no", "--dir", str(base)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not _redis_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer on port {port}")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(base, ignore_errors=True)
