"""A real S3-protocol server for tests: moto's standalone server as a separate process.

Registered from ``tests/conftest.py`` (``pytest_plugins``). Fixtures:

- ``s3_server`` (session): the endpoint URL of a moto server on a free loopback port,
  killed at the end of the session.
- ``s3_bucket``: a fresh, empty bucket on that server (its name).
- ``s3_settings_factory``: like ``settings_factory`` but the blob store is ``s3://<fresh bucket>``;
  ``s3_settings_factory(database_url, **overrides)``.
- ``s3_env(endpoint, bucket)``: the ``CIRRUS_*`` variables that point a ``cirrus serve`` process at it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import free_port, wait_for_port

S3_ACCESS_KEY = "cirrus-test"
S3_SECRET_KEY = "cirrus-test-secret"
S3_REGION = "us-east-1"


def s3_env(endpoint: str, bucket: str, prefix: str = "") -> dict[str, str]:
    url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    return {
        "CIRRUS_STORAGE_URL": url,
        "CIRRUS_S3_ENDPOINT_URL": endpoint,
        "CIRRUS_S3_ACCESS_KEY": S3_ACCESS_KEY,
        "CIRRUS_S3_SECRET_KEY": S3_SECRET_KEY,
        "CIRRUS_S3_REGION": S3_REGION,
    }


def s3_admin_client(endpoint: str) -> Any:
    """A plain (sync) boto3 client for test set-up and for checking what the store wrote."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name=S3_REGION,
    )


def new_bucket(endpoint: str) -> str:
    name = f"cirrus-{uuid.uuid4().hex[:16]}"
    s3_admin_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, timeout=60, proc=proc)
        _wait_http(endpoint, proc)
        yield endpoint
    finally:
        proc.kill()
        proc.wait()


def _wait_http(endpoint: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """The port opens slightly before moto answers requests; wait for a real answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it serves requests
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    return new_bucket(s3_server)


@pytest.fixture
def s3_settings_factory(s3_server: str, settings_factory: Callable[..., Any]) -> Callable[..., Any]:
    def make(database_url: str, **overrides: object) -> Any:
        values: dict[str, object] = {
            "storage_url": f"s3://{new_bucket(s3_server)}",
            "s3_endpoint_url": s3_server,
            "s3_access_key": S3_ACCESS_KEY,
            "s3_secret_key": S3_SECRET_KEY,
            "s3_region": S3_REGION,
        }
        values.update(overrides)
        return settings_factory(database_url, **values)

    return make


__all__ = [
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_REGION",
    "new_bucket",
    "s3_admin_client",
    "s3_env",
]
