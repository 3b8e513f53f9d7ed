"""Where `ovha` connects: flags, then the environment, then a deployed stack's outputs and secret."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from local.ovha import LOCAL_URL, Target, parser, resolve_target, table


def target(*words: str, environ: dict[str, str] | None = None) -> Target:
    return resolve_target(parser().parse_args([*words, "sessions", "list"]), environ or {})


def test_flags_win_over_the_environment_and_the_local_stack_is_the_fallback() -> None:
    assert target().url == LOCAL_URL
    assert target().auth == ("recorder", "rec0rd3r_2024!")
    environ = {"OVHA_URL": "http://env:1/", "HA_CONTROLLER_USERNAME": "a", "HA_CONTROLLER_PASSWORD": "b"}
    assert target(environ=environ).url == "http://env:1"
    assert target(environ=environ).auth == ("a", "b")
    flagged = target("--url", "http://flag:2", "--user", "c", "--password", "d", environ=environ)
    assert (flagged.url, flagged.auth) == ("http://flag:2", ("c", "d"))


def test_a_stack_gives_its_api_url_and_its_generated_credentials() -> None:
    with mock_aws():
        secret = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="creds", SecretString=json.dumps({"username": "recorder", "password": "generated-32"})
        )
        template = {
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {
                "ApiUrl": {"Value": "https://abc.execute-api.eu-west-1.amazonaws.com"},
                "CredentialsSecretArn": {"Value": secret["ARN"]},
            },
        }
        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName="ovha-prod", TemplateBody=json.dumps(template)
        )
        found = target("--stack", "ovha-prod", "--region", "eu-west-1")
    assert found.url == "https://abc.execute-api.eu-west-1.amazonaws.com"
    assert found.auth == ("recorder", "generated-32")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([], "a  b"),
        ([{"a": "x", "b": None}, {"a": "long value"}], "a           b\nx\nlong value"),
    ],
)
def test_a_table_pads_its_columns_and_leaves_blanks(rows: list[dict[str, str | None]], expected: str) -> None:
    assert table(rows, ("a", "b")) == expected
