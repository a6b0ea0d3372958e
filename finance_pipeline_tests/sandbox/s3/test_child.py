"""The S3 child's SigV4 verification, against an S3Server given the client's secret."""

from __future__ import annotations

import boto3
import pytest
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource

from finance_pipeline.sandbox.s3.server import S3Server

KEY_ID, SECRET, ADMIN = "SBXASIGNEDCLIENT", "sbxs_right_secret_0123456789abcdef", "SBXADMINSIGNED"
WRONG_SECRET = "sbxs_wrong_secret_0123456789abcdef"
BUCKET = "verified"
AWKWARD_KEY = "notes/BRK.A 2025+x=y/ä~(1).txt"  # space, plus, equals, non-ASCII, parentheses


@pytest.fixture(scope="module")
def signed_s3():
    """The sandbox's S3 child verifying signatures; objects outside us_stocks_sip/, so no
    publishing is asked of the (absent) control server."""
    server = S3Server()
    server.spawn()
    try:
        server.start(
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
            admin_key=ADMIN,
            allow_client=True,
            control_url="http://127.0.0.1:9",
            token="test-token",
        )
        admin = s3(server, ADMIN, "admin-secret-not-checked")
        admin.create_bucket(Bucket=BUCKET)
        admin.put_object(Bucket=BUCKET, Key=AWKWARD_KEY, Body=b"awkward")
        admin.put_object(Bucket=BUCKET, Key="notes/plain.txt", Body=b"plain")
        yield server
    finally:
        server.stop()


def s3(server: S3Server, key_id: str, secret: str, **config):
    return boto3.client(
        "s3",
        endpoint_url=server.url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, **config),
    )


def error_code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_requests_signed_with_the_right_secret_are_served(signed_s3):
    signed_s3.reset_counts()
    for config in ({"signature_version": "s3v4"}, {"s3": {"addressing_style": "virtual"}}):
        client = s3(signed_s3, KEY_ID, SECRET, **config)
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix="notes/BRK.A 2025+")
        assert [o["Key"] for o in listed["Contents"]] == [AWKWARD_KEY]
        assert client.get_object(Bucket=BUCKET, Key=AWKWARD_KEY)["Body"].read() == b"awkward"
        assert client.head_object(Bucket=BUCKET, Key="notes/plain.txt")["ContentLength"] == 5
        ranged = client.get_object(Bucket=BUCKET, Key="notes/plain.txt", Range="bytes=1-2")
        assert ranged["Body"].read() == b"la"
    dagster_client = S3Resource(
        endpoint_url=signed_s3.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        max_attempts=1,
    ).get_client()
    assert dagster_client.list_objects_v2(Bucket=BUCKET, Prefix="notes/")["KeyCount"] == 2
    url = s3(signed_s3, KEY_ID, SECRET, signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": AWKWARD_KEY}, ExpiresIn=600
    )
    response = urllib3.PoolManager(retries=False).request("GET", url)
    assert (response.status, response.data) == (200, b"awkward")
    statuses = signed_s3.counts().statuses
    assert sum(statuses.values()) == 2 * 4 + 2  # every request was seen ...
    assert all(200 <= status < 300 for status in statuses)  # ... and served


def test_a_wrong_secret_is_refused_with_signature_does_not_match(signed_s3):
    signed_s3.reset_counts()
    wrong = s3(signed_s3, KEY_ID, WRONG_SECRET, signature_version="s3v4")
    assert error_code(lambda: wrong.list_objects_v2(Bucket=BUCKET, Prefix="notes/")) == (
        "SignatureDoesNotMatch"
    )
    assert error_code(lambda: wrong.get_object(Bucket=BUCKET, Key=AWKWARD_KEY)) == (
        "SignatureDoesNotMatch"
    )
    assert error_code(lambda: wrong.put_object(Bucket=BUCKET, Key="notes/x", Body=b"x")) == (
        "SignatureDoesNotMatch"
    )
    assert error_code(lambda: wrong.head_object(Bucket=BUCKET, Key=AWKWARD_KEY)) == "403"
    counts = signed_s3.counts()
    assert counts.statuses == {403: 4}
    assert counts.operations == {
        "ListObjectsV2": 1,
        "GetObject": 1,
        "PutObject": 1,
        "HeadObject": 1,
    }
    admin = s3(signed_s3, ADMIN, "admin-secret-not-checked")
    assert error_code(lambda: admin.head_object(Bucket=BUCKET, Key="notes/x")) == "404"
    # The refusal names no secret (the raw body of a refused presigned GET).
    url = wrong.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "notes/x"})
    body = urllib3.PoolManager(retries=False).request("GET", url).data.decode()
    assert "<Code>SignatureDoesNotMatch</Code>" in body
    assert WRONG_SECRET not in body and SECRET not in body


def tamper(client, event: str, old: str, new: str) -> list[str]:
    """Replace `old` by `new` in the URL of every `event` request after it was signed."""
    changed: list[str] = []

    def hook(request, **_):
        assert old in request.url, request.url
        request.url = request.url.replace(old, new)
        changed.append(request.url)

    client.meta.events.register(f"before-send.s3.{event}", hook)
    return changed


def test_a_request_changed_after_signing_is_refused(signed_s3):
    honest = s3(signed_s3, KEY_ID, SECRET, signature_version="s3v4")
    assert honest.list_objects_v2(Bucket=BUCKET, Prefix="notes/p")["KeyCount"] == 1

    client = s3(signed_s3, KEY_ID, SECRET, signature_version="s3v4")
    changed = tamper(client, "ListObjectsV2", "prefix=notes%2Fp", "prefix=notes%2FB")
    call = lambda: client.list_objects_v2(Bucket=BUCKET, Prefix="notes/p")  # noqa: E731
    assert error_code(call) == "SignatureDoesNotMatch"
    assert len(changed) == 1

    client = s3(signed_s3, KEY_ID, SECRET, signature_version="s3v4")
    changed = tamper(client, "GetObject", "/notes/plain.txt", "/notes/plain.txt%20")
    call = lambda: client.get_object(Bucket=BUCKET, Key="notes/plain.txt")  # noqa: E731
    assert error_code(call) == "SignatureDoesNotMatch"
    assert len(changed) == 1

    url = honest.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "notes/plain.txt"}, ExpiresIn=600
    )
    http = urllib3.PoolManager(retries=False)
    assert http.request("GET", url).status == 200
    longer = http.request("GET", url.replace("X-Amz-Expires=600", "X-Amz-Expires=6000"))
    assert longer.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in longer.data


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"AWS {KEY_ID}:c2lnbmF0dXJl"},  # Signature Version 2
        {"Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20250101/us-east-1/s3"},
        {
            "Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20250101/us-east-1/s3/"
            f"aws4_request, SignedHeaders=host, Signature={'0' * 64}",
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",  # and no X-Amz-Date
        },
    ],
    ids=["none", "sigv2", "truncated", "no-date"],
)
def test_requests_without_valid_sigv4_auth_are_access_denied(signed_s3, headers):
    signed_s3.reset_counts()
    response = urllib3.PoolManager(retries=False).request(
        "GET", f"{signed_s3.url}/{BUCKET}/notes/plain.txt", headers=headers
    )
    assert response.status == 403
    assert b"<Code>AccessDenied</Code>" in response.data
    assert signed_s3.counts().statuses == {403: 1}
