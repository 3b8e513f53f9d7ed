"""Unit fixtures: moto in-process, the table created from template.yaml, a clock the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from local.provision import create_tables, physical_name
from local.template import Template
from tests.helpers import PASSWORD, USER, ApiClient, FakeClock

TABLE = physical_name("SessionsTable")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(
        {"HA_CONTROLLER_USERNAME": USER, "HA_CONTROLLER_PASSWORD": PASSWORD, "SESSIONS_TABLE": TABLE}
    )


@pytest.fixture(scope="session")
def dynamodb_client() -> Any:
    """One client for the whole run: moto answers it inside each test's own `mock_aws` (a fresh,
    empty backend each time), and making a client is most of a fixture's cost."""
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamodb(dynamodb_client: Any) -> Iterator[Any]:
    with mock_aws():
        create_tables(dynamodb_client, Template.load())
        yield dynamodb_client


@pytest.fixture
def store(dynamodb: Any, settings: Settings, clock: FakeClock) -> SessionStore:
    return SessionStore(dynamodb, TABLE, settings, clock)


@pytest.fixture
def api(store: SessionStore, settings: Settings, clock: FakeClock) -> ApiClient:
    return ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock)))
