"""The parent's handle on the S3 child process (`s3.child`): spawn it early, configure it,
read its counters, stop it."""

from __future__ import annotations

import contextlib
import json
import selectors
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finance_pipeline.sandbox.s3.objects import PREFIX

CHILD_SCRIPT = Path(__file__).with_name("child.py")
_START_TIMEOUT = 60.0
_CHILD_BOOT = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


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
            # Run the child as a script: it needs moto, not the package's imports.
            [sys.executable, "-c", _CHILD_BOOT, str(CHILD_SCRIPT)],
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
            "prefix": PREFIX,  # the tree the child asks the parent to publish on access
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
