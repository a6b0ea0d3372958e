"""A plain S3 server (moto's server mode) for tests of S3 lakes, apart from the sandbox."""

import contextlib
from collections.abc import Iterator

import boto3
from moto.server import ThreadedMotoServer

MOTO_KEYS = {
    "aws_access_key_id": "testing-key-id",
    "aws_secret_access_key": "testing-secret-value",
    "region_name": "us-east-1",
}


@contextlib.contextmanager
def moto_s3() -> Iterator[tuple[str, object]]:
    """A moto S3 server on a free loopback port: (endpoint_url, boto3 client)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        yield endpoint, boto3.client("s3", endpoint_url=endpoint, **MOTO_KEYS)
    finally:
        server.stop()
