"""What the lake raises, and what a write reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class LakeError(RuntimeError):
    """Storage failed (I/O, S3 error, unreadable file); the message names the URI."""


class PartitionMissing(LookupError):
    """No stored file for (dataset, session)."""


class SessionMismatch(ValueError):
    """Rows whose `session` is not the partition being written."""


@dataclass(frozen=True)
class WriteResult:
    dataset: str
    session: dt.date | None  # None for an unpartitioned dataset
    uri: str
    rows: int
    bytes: int
    # False when the stored file already had exactly these bytes and was left untouched.
    changed: bool = True


def where(dataset: str, session: dt.date | None) -> str:
    """(dataset, session) in words, for messages."""
    return f"{dataset} session {session}" if session is not None else f"{dataset} (unpartitioned)"
