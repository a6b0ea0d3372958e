"""`finance-pipeline` as real processes, many at once (each one pays Python's and Dagster's
import time; started together they overlap)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from finance_pipeline.settings import ENV_VARS

# Every variable the CLI reads: removed from the inherited environment so a developer's own
# settings (a real POLYGON_API_KEY!) cannot leak in.
CONTRACT = (*ENV_VARS, "FINANCE_PIPELINE_DEBUG")
ERROR_PREFIX = "finance-pipeline: error: "


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(ERROR_PREFIX)]

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def describe(self) -> str:
        return (
            f"finance-pipeline {' '.join(self.args)} -> exit {self.returncode}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )


def launch(args: list[str], env: Mapping[str, str], cwd: Path) -> subprocess.Popen:
    """Start `finance-pipeline ARGS` with exactly `env` on top of the non-contract environment."""
    base = {k: v for k, v in os.environ.items() if k not in CONTRACT}
    script = Path(sys.executable).with_name("finance-pipeline")
    return subprocess.Popen(
        [str(script), *args],
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=str(cwd),
    )


def run_all(
    cases: Mapping[str, tuple[list[str], Mapping[str, str]]], cwd: Path, timeout: float = 300
) -> dict[str, CliResult]:
    """Run every case concurrently; name -> result."""
    started = {name: (args, launch(args, env, cwd)) for name, (args, env) in cases.items()}
    results = {}
    for name, (args, proc) in started.items():
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += f"\n(killed after {timeout:.0f} s)"
        results[name] = CliResult(tuple(args), proc.returncode, out, err)
    return results
