"""Basic auth: parsing, constant-time comparison, credentials from the environment or Secrets Manager."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from hacore.auth import Credentials, CredentialSource, verify_basic
from hacore.settings import Settings
from tests.helpers import basic

EXPECTED = Credentials("recorder", "pa:ss word")


def test_verify_basic_accepts_only_the_exact_pair() -> None:
    assert verify_basic(basic("recorder", "pa:ss word"), EXPECTED)
    assert verify_basic("basic " + basic("recorder", "pa:ss word").split()[1], EXPECTED)
    assert not verify_basic(basic("recorder", "pa:ss"), EXPECTED)
    assert not verify_basic(basic("Recorder", "pa:ss word"), EXPECTED)
    assert not verify_basic(None, EXPECTED)
    assert not verify_basic(basic("recorder", "pa:ss word"), None)
    assert not verify_basic("Basic %%%", EXPECTED)


def test_credentials_do_not_print_the_password() -> None:
    assert "pa:ss word" not in repr(EXPECTED)


def test_credentials_from_the_environment() -> None:
    settings = Settings.from_env({"HA_CONTROLLER_USERNAME": "u", "HA_CONTROLLER_PASSWORD": "p"})
    assert CredentialSource(settings).get() == Credentials("u", "p")
    assert CredentialSource(Settings.from_env({})).get() is None


@pytest.fixture
def secret_arn() -> Iterator[str]:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(
            Name="ha-credentials", SecretString=json.dumps({"username": "ops", "password": "from-secret"})
        )["ARN"]
        yield arn


def test_credentials_from_secrets_manager_are_cached(secret_arn: str) -> None:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    source = CredentialSource(Settings.from_env({"HA_CONTROLLER_CREDENTIALS_SECRET": secret_arn}))
    assert source.get() == Credentials("ops", "from-secret")
    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId=secret_arn, SecretString=json.dumps({"username": "ops", "password": "rotated"})
    )
    assert source.get().password == "from-secret"  # served from the cache until it expires
    parameters.clear_caches()
    assert source.get().password == "rotated"
