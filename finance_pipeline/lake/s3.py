"""A lake root in S3: whole-object writes, reads and listing, errors named by URI.

A write is one PutObject of the finished bytes, so a reader sees the old object or the new one,
never half of one; it is skipped when the object's ETag already is the bytes' MD5.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pyarrow as pa

from finance_pipeline.lake.errors import LakeError
from finance_pipeline.lake.layout import s3_root, s3_session_objects
from finance_pipeline.redaction import redact

# Error codes of an absent object (GetObject says NoSuchKey, HeadObject only 404).
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def s3_error_code(exc: Exception) -> str | None:
    """The S3 error code of a botocore ClientError, None for any other exception."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None


class S3Objects:
    """The objects of a lake rooted at `s3://bucket/prefix`, addressed by their layout paths."""

    noun = "object"

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.root = s3_root(bucket, prefix)

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def uri(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def _failure(self, doing: str, relative: str, exc: Exception) -> LakeError:
        return LakeError(f"could not {doing} {self.uri(relative)}: {redact(str(exc))}")

    def put(self, relative: str, body: bytes) -> bool:
        """One PutObject of the finished bytes; False when the object already held them."""
        key = self.key(relative)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            if head["ETag"].strip('"') == hashlib.md5(body, usedforsecurity=False).hexdigest():
                return False
        except Exception as exc:
            if s3_error_code(exc) not in MISSING_CODES:
                raise self._failure("check", relative, exc) from None
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)
        except Exception as exc:
            raise self._failure("write", relative, exc) from None
        return True

    def open(self, relative: str) -> pa.BufferReader | None:
        """The object's bytes to read from, None when there is no object."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(relative))
            return pa.BufferReader(response["Body"].read())
        except Exception as exc:
            if s3_error_code(exc) in MISSING_CODES:
                return None
            raise self._failure("read", relative, exc) from None

    def get(self, relative: str) -> bytes | None:
        """The object's bytes, None when there is no object."""
        source = self.open(relative)
        return None if source is None else source.read_buffer().to_pybytes()

    def delete(self, relative: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(relative))
        except Exception as exc:
            raise self._failure("delete", relative, exc) from None

    def listing(self, prefix: str) -> list[str]:
        """Relative paths of every object under `prefix`."""
        base = f"{self.prefix}/" if self.prefix else ""
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix.rstrip("/") + "/"
            )
            for page in pages:
                found += [item["Key"][len(base) :] for item in page.get("Contents", [])]
        except Exception as exc:
            raise self._failure("list", prefix, exc) from None
        return sorted(found)

    def exists(self, relative: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(relative))
        except Exception as exc:
            if s3_error_code(exc) in MISSING_CODES:
                return False
            raise self._failure("check", relative, exc) from None
        return True

    def stored_sessions(self, dataset: str) -> list[dt.date]:
        try:
            found = s3_session_objects(self.client, self.bucket, self.prefix, [dataset])
        except Exception as exc:
            raise self._failure("list", dataset, exc) from None
        return [obj.session for obj in found]
