"""A real S3-compatible server for the S3 plugin's tests: moto's threaded server on a free port."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from moto.server import ThreadedMotoServer

from memos_core import CONTEXT

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-do-not-leak"
REGION = "us-east-1"


@dataclasses.dataclass
class S3Server:
    host: str
    port: int
    bucket: str

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def s3_config(self, **overrides: Any) -> dict[str, Any]:
        """The ``s3Config`` JSON of the STORAGE setting for this server."""
        config = {
            "accessKeyId": ACCESS_KEY,
            "accessKeySecret": SECRET_KEY,
            "endpoint": self.endpoint,
            "region": REGION,
            "bucket": self.bucket,
            "usePathStyle": True,
        }
        return {**config, **overrides}

    def setting(self, template: str = "", **overrides: Any) -> dict[str, Any]:
        return {"storageType": "S3", "filepathTemplate": template, "s3Config": self.s3_config(**overrides)}

    def boto(self) -> Any:
        """A synchronous client to inspect the server independently of the plugin."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=BotoConfig(s3={"addressing_style": "path"}),
        )


@pytest.fixture(scope="session")
def s3_server() -> Any:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Server(host=host, port=port, bucket="memos-test")
        s3.boto().create_bucket(Bucket=s3.bucket)
        yield s3
    finally:
        server.stop()


@pytest.fixture
def key_prefix() -> str:
    """A fresh key prefix per test so tests sharing the bucket never see each other's objects."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ctx(memos_client) -> Any:
    """The started app's context (its S3 client pool is open)."""
    return memos_client.app[CONTEXT]
