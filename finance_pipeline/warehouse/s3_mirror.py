"""A local mirror of an `s3://bucket/prefix` lake, which the warehouse then reads as a directory.

DuckDB 2.0.0's wheel does not bundle httpfs, the extension server is out of reach, and the PyPI
extension wheels (`duckdb-extension-httpfs`, newest 1.5.5) only load into the DuckDB version
they were built for. So an S3 lake is mirrored with boto3 into a local cache (only objects
whose ETag changed are downloaded) and read from there; compacted files and the database live
in that cache too.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from filelock import FileLock

from finance_pipeline.lake.layout import s3_session_objects, split_s3_root, temp_path
from finance_pipeline.lake.s3 import s3_error_code
from finance_pipeline.warehouse.common import WarehouseError, one_line

DOWNLOAD_THREADS = 8


def default_cache_dir(root: str, endpoint: str | None) -> Path:
    """The per-user cache directory of one S3 lake (root and endpoint)."""
    import platformdirs

    digest = hashlib.sha256(f"{root}|{endpoint or ''}".encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("finance_pipeline")) / "warehouse" / digest


def make_s3_client(endpoint: str | None) -> Any:
    """A boto3 S3 client (path-style addressing) with the environment's credentials."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


class S3Mirror:
    """A local copy of an S3 lake's session files, refreshed by ETag."""

    def __init__(self, root: str, client: Any, local: Path, datasets: list[str]) -> None:
        try:
            self.bucket, self.prefix = split_s3_root(root)
        except ValueError as exc:
            raise WarehouseError(str(exc)) from None
        self.root, self.client, self.local, self.datasets = root, client, local, datasets

    def _fail(self, exc: Exception, doing: str) -> WarehouseError:
        code = s3_error_code(exc) or ""
        if code == "NoSuchBucket":
            why = f"bucket {self.bucket!r} does not exist"
        elif code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            why = f"access denied ({code})"
        else:
            why = one_line(exc)
        return WarehouseError(f"S3 lake {self.root} is not readable: {doing}: {why}")

    def sync(self) -> Path:
        """Download new and changed session files, delete vanished ones; the local root."""
        self.local.mkdir(parents=True, exist_ok=True)
        state_path = self.local / ".etags.json"
        with FileLock(str(self.local / ".sync.lock")):
            known: dict[str, str] = (
                json.loads(state_path.read_text()) if state_path.exists() else {}
            )
            try:
                found = s3_session_objects(self.client, self.bucket, self.prefix, self.datasets)
            except Exception as exc:
                raise self._fail(exc, "listing") from None
            # relative path -> (key, etag)
            remote = {obj.relative: (obj.key, obj.etag) for obj in found}
            wanted = [
                (rel, key, etag)
                for rel, (key, etag) in remote.items()
                if known.get(rel) != etag or not (self.local / rel).exists()
            ]
            with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
                for rel, etag in pool.map(lambda item: self._download(*item), wanted):
                    known[rel] = etag
            for rel in set(known) - set(remote):
                (self.local / rel).unlink(missing_ok=True)
                del known[rel]
            temp_state = state_path.with_suffix(".tmp")
            temp_state.write_text(json.dumps(known, sort_keys=True))
            os.replace(temp_state, state_path)
        return self.local

    def _download(self, rel: str, key: str, etag: str) -> tuple[str, str]:
        """One object to its local path, atomically (temporary name, then rename)."""
        target = self.local / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_path(target)
        try:
            self.client.download_file(self.bucket, key, str(temp))
        except Exception as exc:
            temp.unlink(missing_ok=True)
            raise self._fail(exc, f"downloading {key}") from None
        os.replace(temp, target)
        return rel, etag
