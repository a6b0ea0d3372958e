"""The lake's layout: where each file lives, how its directories are named, how to list them.

The one definition of the layout; the store, the warehouse and its S3 mirror all use it:

    <root>/<dataset>/session=YYYY-MM-DD/part-0.parquet   one session of a partitioned dataset
    <root>/<dataset>/part-0.parquet                      an unpartitioned dataset
    <root>/_compacted/<dataset>/...                      the warehouse's compacted read cache
    <root>/warehouse.duckdb                              the warehouse's bookkeeping database

root is a local directory or `s3://bucket/prefix`. Writers put a file under a temporary name
beside its target (`.part-0.<random>.tmp`) and rename it, so listings never see half a file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finance_pipeline.calendar import SessionError, session_from_partition_key

log = logging.getLogger(__name__)

FILE_NAME = "part-0.parquet"
# The hive partition key of the session directories (DuckDB reads it as a column).
SESSION_KEY = "session"
# Beside the datasets: the warehouse's cache (deleting it loses nothing) and bookkeeping.
COMPACT_DIR = "_compacted"
DATABASE_FILE = "warehouse.duckdb"
S3_SCHEME = "s3://"

_SESSION_PREFIX = f"{SESSION_KEY}="
_TEMP_SUFFIX = ".tmp"


# ----------------------------------------------------------------------------- roots and names


def is_s3_root(root: str) -> bool:
    return root.startswith(S3_SCHEME)


def split_s3_root(root: str) -> tuple[str, str]:
    """(bucket, prefix without surrounding slashes) of `s3://bucket/prefix`; ValueError when
    the root names no bucket."""
    bucket, _, prefix = root.removeprefix(S3_SCHEME).partition("/")
    if not bucket:
        raise ValueError(f"lake root {root!r} has no bucket; use s3://bucket/prefix")
    return bucket, prefix.strip("/")


def s3_root(bucket: str, prefix: str) -> str:
    """The canonical spelling of an S3 root: no trailing slash."""
    return f"{S3_SCHEME}{bucket}" + (f"/{prefix}" if prefix else "")


def session_dir(session: dt.date) -> str:
    """The directory name of one session: `session=YYYY-MM-DD`."""
    return f"{_SESSION_PREFIX}{session.isoformat()}"


def relative_path(dataset: str, session: dt.date | None) -> str:
    """The file of (dataset, session) relative to the root; session None = unpartitioned."""
    if session is None:
        return f"{dataset}/{FILE_NAME}"
    return f"{dataset}/{session_dir(session)}/{FILE_NAME}"


def session_glob(dataset: str) -> str:
    """A glob, relative to the root, over every session file of `dataset`."""
    return f"{dataset}/{_SESSION_PREFIX}*/{FILE_NAME}"


def session_of_dir(name: str) -> dt.date | None:
    """The session a directory name stands for, None when it is no session directory.

    SessionError when it is a `session=` directory whose key is not a trading session that has
    ended (the lake never writes one).
    """
    if not name.startswith(_SESSION_PREFIX) or "/" in name:
        return None
    return session_from_partition_key(name.removeprefix(_SESSION_PREFIX))


def temp_path(target: Path) -> Path:
    """A unique temporary name beside `target`, for writing it and renaming it into place."""
    return target.with_name(f".{target.stem}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")


def temp_paths(target: Path) -> list[Path]:
    """The temporary files beside `target` that writers of it created (live or dead)."""
    return list(target.parent.glob(f".{target.stem}.*{_TEMP_SUFFIX}"))


def _listed_session(dataset: str, where: str, name: str) -> dt.date | None:
    """session_of_dir for a listing: a bad `session=` directory is skipped with a warning."""
    try:
        return session_of_dir(name)
    except SessionError as exc:
        log.warning("%s: ignoring %s: %s", dataset, where, exc)
        return None


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class SessionFile:
    """One stored session file on a local disk. `version` changes whenever it is replaced."""

    dataset: str
    session: dt.date
    path: str
    ino: int
    mtime_ns: int
    size: int

    @property
    def version(self) -> tuple[int, int, int]:
        return (self.ino, self.mtime_ns, self.size)


@dataclass(frozen=True)
class SessionObject:
    """One stored session file in S3."""

    dataset: str
    session: dt.date
    key: str
    etag: str

    @property
    def relative(self) -> str:
        return relative_path(self.dataset, self.session)


def local_session_files(root: Path, dataset: str) -> list[SessionFile]:
    """Every session file of `dataset` under a local root, oldest session first.

    A missing dataset directory has none; any other OSError of the listing propagates.
    """
    try:
        entries = list(os.scandir(root / dataset))
    except FileNotFoundError:
        return []
    files = []
    for entry in entries:
        path = os.path.join(entry.path, FILE_NAME)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        session = _listed_session(dataset, entry.path, entry.name)
        if session is not None:
            files.append(SessionFile(dataset, session, path, st.st_ino, st.st_mtime_ns, st.st_size))
    return sorted(files, key=lambda file: file.session)


def s3_session_objects(
    client: Any, bucket: str, prefix: str, datasets: Iterable[str]
) -> list[SessionObject]:
    """Every session object of `datasets` under `s3://bucket/prefix`, oldest session first
    per dataset. Errors of the S3 client propagate."""
    wanted = list(datasets)
    base = f"{prefix}/" if prefix else ""
    listed = base + (f"{wanted[0]}/" if len(wanted) == 1 else "")
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=listed):
        for item in page.get("Contents", []):
            parts = item["Key"][len(base) :].split("/")
            if len(parts) != 3 or parts[0] not in wanted or parts[2] != FILE_NAME:
                continue
            where = s3_root(bucket, base + "/".join(parts[:2]))
            session = _listed_session(parts[0], where, parts[1])
            if session is not None:
                found.append(SessionObject(parts[0], session, item["Key"], item["ETag"].strip('"')))
    return sorted(found, key=lambda obj: (obj.dataset, obj.session))
