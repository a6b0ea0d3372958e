"""Flat-file failures: the error classes callers catch, and how an S3 failure maps to one.

Every message names the object (`s3://bucket/key`) and the reason; secrets are masked.
"""

from __future__ import annotations

from collections.abc import Iterable

import botocore.exceptions

from finance_pipeline.redaction import redact


class FlatFileError(RuntimeError):
    """A flat file that cannot be used; the message names the key and the reason."""


class FlatFileNotPublished(FlatFileError): ...  # no object (yet) for that session


class FlatFileCorrupt(FlatFileError): ...  # truncated/invalid gzip, unparsable rows


class FlatFileSchemaChanged(FlatFileError): ...  # header differs from HEADER


class FlatFileAccessDenied(FlatFileError): ...  # credentials refused / plan without flat files


_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_DENIED = frozenset(
    {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)
# The body of a GET can break off mid-stream; botocore does not retry those.
STREAM_ERRORS = (
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)


def is_plain_denial(exc: botocore.exceptions.ClientError) -> bool:
    """A 403 that does not say why: the vendor's answer for an object not published yet, as
    well as for one outside the plan (a listing tells them apart)."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in {"403", "AccessDenied", "Forbidden"} or (
        status == 403 and str(error.get("Code")) not in _DENIED
    )


def is_not_found(exc: botocore.exceptions.ClientError) -> bool:
    """Whether S3 answered that the object does not exist."""
    return str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND


def s3_failure(
    exc: Exception, action: str, bucket: str, key: str, secrets: Iterable[str]
) -> FlatFileError:
    """A clear FlatFileError for an S3/botocore failure of `action` on `key`."""
    where = f"s3://{bucket}/{key}"
    kind: type[FlatFileError] = FlatFileError
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "?"))
        detail = error.get("Message") or code
        if code in _DENIED:
            kind = FlatFileAccessDenied
            message = (
                f"flat files: {action} {where} was refused ({code}: {detail}); check "
                "FLATFILES_ACCESS_KEY_ID / FLATFILES_SECRET_ACCESS_KEY and that the plan "
                "includes flat files"
            )
        elif code == "NoSuchBucket":
            message = f"flat files: bucket {bucket!r} does not exist ({action} {where})"
        else:
            message = f"flat files: {action} {where} failed ({code}: {detail})"
    elif isinstance(exc, botocore.exceptions.NoCredentialsError):
        message = (
            f"flat files: no S3 credentials for {action} {where}; set "
            "FLATFILES_ACCESS_KEY_ID and FLATFILES_SECRET_ACCESS_KEY"
        )
    elif isinstance(exc, botocore.exceptions.EndpointConnectionError):
        message = f"flat files: cannot reach the S3 endpoint for {action} {where} ({exc})"
    else:
        message = f"flat files: {action} {where} failed ({type(exc).__name__}: {exc})"
    return kind(redact(message, secrets))
