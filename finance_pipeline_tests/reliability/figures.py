"""The fault suite's figures: what each test injected and what became of the lake and the secrets.

Tests fill one `Record` each (through the `figure` fixture of this package's conftest) with
numbers they COMPUTE: digests of partitions before and after, counts seen at the sandbox, scans
of every stored byte. Records are filled before the test asserts on them, so a regression shows
up in the figures as well as in the test result. At the end of a session that ran reliability
tests, `write_reports` adds a final sweep for secrets over everything the suite kept (Dagster
instance directories, compute logs, lakes, subprocess output, exception text, log records) and
writes docs/reliability.json and docs/reliability.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

COUNTED = (
    "faults_injected",
    "runs",
    "runs_recovered",
    "runs_failed_clearly",
    "partitions_checked",
    "partitions_lost",
    "partitions_corrupted",
    "secrets_found",
)


@dataclass
class Record:
    """One fault scenario (one test). Counts are computed by the test, never preset."""

    nodeid: str
    category: str = ""
    scenario: str = ""
    faults_injected: int = 0  # faults the sandbox or the harness injected
    runs: int = 0  # runs (Dagster runs, processes, CLI invocations) that met a fault
    runs_recovered: int = 0  # ... that still ended green (retries, or a rerun after the fault)
    runs_failed_clearly: int = 0  # ... that failed with a message naming what and why
    partitions_checked: int = 0  # partition states verified: before/after digests, race reads
    partitions_lost: int = 0  # a good stored partition that disappeared
    partitions_corrupted: int = 0  # a partition that changed when it must not, or is unreadable
    secrets_found: int = 0  # occurrences of a secret in scanned text/bytes
    scanned_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    outcome: str = "not run"  # passed / failed / xfailed / skipped (set from the test report)
    seconds: float = 0.0

    def note(self, text: str) -> None:
        self.notes.append(text)


@dataclass
class Registry:
    """Everything the session collected: records, plus what the final secret sweep scans."""

    records: list[Record] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # value -> a name for the report
    paths: list[Path] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def record(self, nodeid: str) -> Record:
        entry = Record(nodeid=nodeid)
        self.records.append(entry)
        return entry

    def add_secret(self, name: str, value: str | None) -> None:
        if value:
            self.secrets.setdefault(value, name)

    def add_path(self, path: Path) -> None:
        if path not in self.paths:
            self.paths.append(path)

    def add_text(self, where: str, text: str) -> None:
        self.texts.append((where, text))


REGISTRY = Registry()


# ----------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class Finding:
    where: str
    secret: str  # the secret's NAME (never its value)
    count: int


def scan_text(where: str, text: str | bytes, secrets: dict[str, str]) -> list[Finding]:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    found = []
    for value, name in secrets.items():
        count = data.count(value.encode())
        if count:
            found.append(Finding(where, name, count))
    return found


def scan_paths(paths: Iterable[Path], secrets: dict[str, str]) -> tuple[list[Finding], int]:
    """(findings, bytes scanned) over every regular file under `paths` (files or directories)."""
    findings: list[Finding] = []
    scanned = 0
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue  # removed meanwhile (temp files of a live writer)
            scanned += len(data)
            findings += scan_text(str(path), data, secrets)
    return findings, scanned


def sweep(registry: Registry = REGISTRY) -> tuple[list[Finding], int]:
    """Every secret the session registered, searched in everything it kept."""
    findings, scanned = scan_paths([p for p in registry.paths if p.exists()], registry.secrets)
    for where, text in registry.texts:
        scanned += len(text)
        findings += scan_text(where, text, registry.secrets)
    return findings, scanned


# ----------------------------------------------------------------------------- reports


def _totals(records: list[Record]) -> dict[str, int]:
    return {name: sum(getattr(r, name) for r in records) for name in COUNTED}


def summary(registry: Registry = REGISTRY) -> dict:
    """The figures as one JSON-ready dict, the final secret sweep included."""
    findings, scanned = sweep(registry)
    records = registry.records
    totals = _totals(records)
    totals["secrets_found"] += sum(f.count for f in findings)
    outcomes: dict[str, int] = {}
    for entry in records:
        outcomes[entry.outcome] = outcomes.get(entry.outcome, 0) + 1
    return {
        "generated_utc": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "tests": len(records),
        "outcomes": outcomes,
        "totals": totals,
        "final_secret_sweep": {
            "secrets_searched": len(registry.secrets),
            "places_scanned": len(registry.paths) + len(registry.texts),
            "bytes_scanned": scanned,
            "findings": [asdict(f) for f in findings],
        },
        "records": [asdict(r) for r in records],
    }


def _markdown(data: dict) -> str:
    totals = data["totals"]
    sweep_data = data["final_secret_sweep"]
    lines = [
        "# Reliability and security figures",
        "",
        "Written by the fault suite (`pytest finance_pipeline_tests/reliability`) at the end of "
        "its last session; every number is computed by the tests (digests of partitions before "
        "and after, counts at the sandbox, scans of stored bytes), not declared.",
        "",
        f"Generated {data['generated_utc']} (Python {data['python']}); "
        f"{data['tests']} tests: "
        + ", ".join(f"{n} {k}" for k, n in sorted(data["outcomes"].items())),
        "",
        "| figure | value |",
        "|---|---:|",
        f"| faults injected | {totals['faults_injected']} |",
        f"| runs that met a fault | {totals['runs']} |",
        f"| runs that recovered (retries within budget, or a rerun) | {totals['runs_recovered']} |",
        f"| runs that failed with a clear message | {totals['runs_failed_clearly']} |",
        f"| partition states verified (lake before/after a fault, reads during a race) | "
        f"{totals['partitions_checked']} |",
        f"| **partitions lost** | **{totals['partitions_lost']}** |",
        f"| **partitions corrupted** | **{totals['partitions_corrupted']}** |",
        f"| **secrets found** (tests' own scans + final sweep) | **{totals['secrets_found']}** |",
        "",
        f"Final secret sweep: {sweep_data['secrets_searched']} secret values searched in "
        f"{sweep_data['places_scanned']} places ({sweep_data['bytes_scanned']:,} bytes: Dagster "
        "instance directories with event logs and compute logs, lakes, CLI and subprocess "
        "output, exception text, captured log records); "
        f"{sum(f['count'] for f in sweep_data['findings'])} found.",
        "",
        "| category | scenario | faults | runs | recovered | failed clearly | partition "
        "states verified | lost | corrupted | secrets | outcome |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in data["records"]:
        lines.append(
            f"| {r['category']} | {r['scenario']} | {r['faults_injected']} | {r['runs']} | "
            f"{r['runs_recovered']} | {r['runs_failed_clearly']} | {r['partitions_checked']} | "
            f"{r['partitions_lost']} | {r['partitions_corrupted']} | {r['secrets_found']} | "
            f"{r['outcome']} |"
        )
    notes = [(r["scenario"], n) for r in data["records"] for n in r["notes"]]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {scenario}: {text}" for scenario, text in notes]
    return "\n".join(lines) + "\n"


def write_reports(docs: Path, registry: Registry = REGISTRY) -> dict:
    """Write docs/reliability.json and docs/reliability.md; returns the figures."""
    data = summary(registry)
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "reliability.json").write_text(json.dumps(data, indent=2) + "\n")
    (docs / "reliability.md").write_text(_markdown(data))
    return data


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
