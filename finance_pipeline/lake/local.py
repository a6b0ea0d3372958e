"""A lake root on the local disk: atomic writes, reads and listing of its files.

A write goes to a uniquely named temporary file beside the target, is fsynced, `os.replace`d
onto the target, and the directory is fsynced: a reader never sees half a file, and a failed
write leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from pathlib import Path
from typing import BinaryIO

from finance_pipeline.lake.layout import local_session_files, temp_path, temp_paths

# A temp file this old belongs to a writer that died (kill -9, power loss): a live writer
# renames its file within seconds.
STALE_TEMP_SECONDS = 3600


class LocalFiles:
    """The files of a lake rooted at a local directory, addressed by their layout paths."""

    noun = "file"

    def __init__(self, root: Path) -> None:
        self.path = root
        self.root = str(root)

    def uri(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def put(self, relative: str, body: bytes) -> bool:
        """Store `body` atomically; False when the file already held exactly these bytes."""
        return write_atomically(self.path / relative, body)

    def open(self, relative: str) -> BinaryIO | None:
        """The file opened for reading, None when there is none."""
        try:
            return open(self.path / relative, "rb")
        except FileNotFoundError:
            return None

    def get(self, relative: str) -> bytes | None:
        """The file's bytes, None when there is none."""
        try:
            return (self.path / relative).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def delete(self, relative: str) -> None:
        (self.path / relative).unlink(missing_ok=True)

    def listing(self, prefix: str) -> list[str]:
        """Relative paths of every regular file under `prefix` (temp files left out)."""
        base = self.path / prefix
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.path))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )

    def exists(self, relative: str) -> bool:
        return (self.path / relative).is_file()

    def stored_sessions(self, dataset: str) -> list[dt.date]:
        return [file.session for file in local_session_files(self.path, dataset)]


def write_atomically(path: Path, body: bytes) -> bool:
    """Temp file, fsync, rename; skipped (False) when the file already holds exactly `body`."""
    if path.parent.exists():
        _remove_stale_temps(path)
    if path.exists() and path.stat().st_size == len(body) and path.read_bytes() == body:
        return False
    directory = path.parent
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    temp = temp_path(path)
    try:
        with open(temp, "xb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    if created:
        _fsync_directory(directory.parent)
    return True


def _remove_stale_temps(target: Path) -> None:
    """Delete temp files that killed writers of `target` left behind; readers never saw them."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for temp in temp_paths(target):
        with contextlib.suppress(FileNotFoundError):
            if temp.stat().st_mtime < cutoff:
                temp.unlink()


def _fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in `directory` durable (a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
