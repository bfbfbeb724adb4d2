"""A local S3 endpoint for the tests: moto's server in a child process, over HTTP on loopback.

One server and one bucket per test session (``s3_server``); each test gets its own prefix in that
bucket (``s3_url``, emptied afterwards) or a bucket of its own (``s3_bucket``, removed afterwards).
The child serves on a port the OS picks and exits as soon as its standard input closes, so it stops
with the session even when pytest itself is killed.

Test modules use it with ``from s3_server import S3Server, s3_bucket, s3_server, s3_url``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

# The child: moto's S3 app on a threaded werkzeug server. moto checks ``If-None-Match: *`` before its
# (slow) write without a lock, where S3 makes a conditional write atomic; so conditional writes are
# serialized here, and the racing-writer tests test the store, not moto's race.
_CHILD = """
import logging, os, sys, threading
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

logging.getLogger("werkzeug").setLevel(logging.ERROR)
app = DomainDispatcherApplication(create_backend_app)
conditional = threading.Lock()

def serve(environ, start_response):
    if environ.get("HTTP_IF_NONE_MATCH") and environ["REQUEST_METHOD"] in ("PUT", "POST"):
        with conditional:
            return list(app(environ, start_response))
    return app(environ, start_response)

server = make_server("127.0.0.1", 0, serve, threaded=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(server.server_port, flush=True)
sys.stdin.read()  # returns at end of file: the test session ended, or died
os._exit(0)
"""

ACCESS_KEY = "modelreg-test"
SECRET_KEY = "modelreg-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    client: S3Client  # an admin client for the tests (configured like the store's)
    bucket: str  # shared by the session's tests, each under its own prefix

    def store_kwargs(self) -> dict[str, Any]:
        """The arguments that point an S3BlobStore at this server."""
        return {"endpoint_url": self.endpoint_url, "region": REGION, "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY}

    def leftovers(self, bucket: str, prefix: str = "") -> list[str]:
        """Multipart uploads in progress and staging objects under ``prefix`` (a clean put leaves none)."""
        uploads = self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
        found = [f"upload:{u.get('Key')}" for u in uploads]
        objects = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return found + [f"object:{o['Key']}" for o in objects if "tmp/" in o["Key"][len(prefix):]]

    def empty(self, bucket: str, prefix: str = "") -> None:
        """Abort the uploads and delete the objects under ``prefix``."""
        for upload in self.client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []):
            self.client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys: list[Any] = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def _start(timeout_s: float = 60.0) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    proc = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout_s)
    if not line or not line[0].strip().isdigit():
        _stop(proc)
        raise RuntimeError(f"moto's S3 server did not start within {timeout_s:.0f} s (exit code {proc.poll()})")
    return proc, int(line[0])


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1, started once for the session and stopped at its end."""
    try:
        import moto.moto_server.werkzeug_app  # noqa: F401
    except ImportError:
        message = "the S3 tests need moto's server: pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI requires it")
        pytest.skip(message)
    from modelreg.blobs.s3 import make_client

    proc, port = _start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = make_client(endpoint_url=endpoint, region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                             max_attempts=2)
        bucket = f"modelreg-{uuid.uuid4().hex[:16]}"
        client.create_bucket(Bucket=bucket)
        yield S3Server(endpoint_url=endpoint, client=client, bucket=bucket)
    finally:
        _stop(proc)


@pytest.fixture
def s3_url(s3_server: S3Server) -> Iterator[str]:
    """``s3://<the session's bucket>/<a fresh prefix>`` for one test, emptied afterwards."""
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    try:
        yield f"s3://{s3_server.bucket}/{prefix}"
    finally:
        s3_server.empty(s3_server.bucket, f"{prefix}/")


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """A fresh bucket for one test, emptied and removed afterwards."""
    name = f"modelreg-{uuid.uuid4().hex[:16]}"
    s3_server.client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        s3_server.empty(name)
        s3_server.client.delete_bucket(Bucket=name)
