"""Quarantine: new partition files the audit refused, kept aside with their reason.

    <root>/_quarantine/<dataset>/session=YYYY-MM-DD/part-0.parquet   the refused file
    <root>/_quarantine/<dataset>/session=YYYY-MM-DD/reason.json      why, and its numbers

One candidate per partition: a later refusal replaces an earlier one. Readers of the lake never
look here; `finance-pipeline accept DATASET SESSION` publishes a candidate in place of the
stored partition, `status` and the alert sensor list them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Protocol

from finance_pipeline.lake.layout import FILE_NAME, session_dir, session_of_dir

QUARANTINE_DIR = "_quarantine"
REASON_FILE = "reason.json"


class _Storage(Protocol):
    def put(self, relative: str, body: bytes) -> bool: ...
    def get(self, relative: str) -> bytes | None: ...
    def delete(self, relative: str) -> None: ...
    def listing(self, prefix: str) -> list[str]: ...
    def uri(self, relative: str) -> str: ...


@dataclass(frozen=True)
class Quarantined:
    """One refused partition file."""

    dataset: str
    session: str
    reason: str
    rows: int
    stored_rows: int | None  # rows of the partition it would have replaced, None if none
    bytes: int
    quarantined_utc: str
    uri: str = ""

    def text(self) -> str:
        stored = "nothing stored" if self.stored_rows is None else f"{self.stored_rows:,} stored"
        return (
            f"{self.dataset} session {self.session}: {self.reason} ({self.rows:,} rows new, "
            f"{stored}); kept at {self.uri}"
        )


def _folder(dataset: str, session: dt.date) -> str:
    return f"{QUARANTINE_DIR}/{dataset}/{session_dir(session)}"


def put(
    storage: _Storage,
    dataset: str,
    session: dt.date,
    body: bytes,
    *,
    reason: str,
    rows: int,
    stored_rows: int | None,
) -> Quarantined:
    """Keep `body` aside as the candidate of (dataset, session); the file first, then its
    reason (a listing only shows a candidate once both are there)."""
    folder = _folder(dataset, session)
    storage.put(f"{folder}/{FILE_NAME}", body)
    entry = Quarantined(
        dataset,
        session.isoformat(),
        reason,
        rows,
        stored_rows,
        len(body),
        dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        storage.uri(f"{folder}/{FILE_NAME}"),
    )
    storage.put(f"{folder}/{REASON_FILE}", json.dumps(asdict(entry), indent=1).encode())
    return entry


def candidate(storage: _Storage, dataset: str, session: dt.date) -> tuple[Quarantined, bytes]:
    """The quarantined candidate of (dataset, session); LookupError when there is none."""
    folder = _folder(dataset, session)
    reason, body = storage.get(f"{folder}/{REASON_FILE}"), storage.get(f"{folder}/{FILE_NAME}")
    if reason is None or body is None:
        raise LookupError(f"nothing is quarantined for {dataset} session {session}")
    return Quarantined(**json.loads(reason)), body


def remove(storage: _Storage, dataset: str, session: dt.date) -> None:
    folder = _folder(dataset, session)
    storage.delete(f"{folder}/{REASON_FILE}")
    storage.delete(f"{folder}/{FILE_NAME}")


def listing(storage: _Storage) -> list[Quarantined]:
    """Every quarantined candidate, by dataset and session."""
    found = []
    for relative in storage.listing(QUARANTINE_DIR):
        parts = relative.split("/")
        if len(parts) != 4 or parts[3] != REASON_FILE:
            continue
        try:
            session = session_of_dir(parts[2])
        except ValueError:
            continue
        if session is None:
            continue
        body = storage.get(relative)
        if body is not None:
            found.append(Quarantined(**json.loads(body)))
    return sorted(found, key=lambda q: (q.dataset, q.session))
