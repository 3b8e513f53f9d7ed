"""boto3 clients, made once per process and passed to whoever needs them.

AWS_ENDPOINT_URL (moto locally, LocalStack, ...) is honoured by botocore itself.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 4})


def client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url, config=_CONFIG)
