"""A real dagster-webserver on a free port, its GraphQL as the UI reads it, and Debian's
Chromium driven by Playwright (no browser download: `executable_path`)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("FINANCE_PIPELINE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def graphql(url: str, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `data` of a GraphQL answer; AssertionError naming the errors when there are any."""
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = json.load(answer)
    assert not body.get("errors"), body["errors"]
    return body["data"]


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 240) -> None:
    """Until the code location has loaded (the asset graph answers), or fail naming why."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the webserver exited with {process.returncode}"
        assert time.monotonic() < deadline, f"{url} did not serve the code location in time"
        try:
            data = graphql(url, "{ assetNodes { id } }")
            if data["assetNodes"]:
                return
        except (OSError, urllib.error.URLError, AssertionError, KeyError):
            pass
        time.sleep(0.5)  # polling a server that is starting: this is the wait condition's pace


@contextmanager
def webserver(env: Mapping[str, str], cwd: Path) -> Iterator[str]:
    """`dagster-webserver` on the code location with `env` (DAGSTER_HOME, lake, sandbox);
    yields its base URL and stops it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "dagster_webserver", "-m", "finance_pipeline.definitions"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    log = (cwd / "webserver.log").open("w")
    process = subprocess.Popen(
        command, env={**os.environ, **env}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def browser_page(width: int = 1440, height: int = 900) -> Iterator[Any]:
    """A Playwright page in Debian's Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context.new_page()
        finally:
            context.close()
