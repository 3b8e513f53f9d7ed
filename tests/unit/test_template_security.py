"""The template's security rules, read from template.yaml: least privilege (no `"*"` resource
without a condition), the webhook token required by default in AWS, plain HTTP refused by the
recordings bucket, and every checkov skip carrying its reason (`make scan` runs checkov itself)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hacore.settings import Settings
from hacore.webhooks.inbound import InboundToken
from local.environment import function_environment
from local.template import Template


def statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement the template writes itself: managed policies, roles' inline
    policies and the functions' inline statements (SAM's policy templates are scoped by SAM)."""
    for name, policy in template.resources("AWS::IAM::ManagedPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement
    for name, role in template.resources("AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies") or []:
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for name, function in template.resources("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies") or []:
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in policy["Statement"]:
                    yield name, statement


def test_no_statement_grants_every_resource_without_a_condition() -> None:
    found = list(statements(Template.load()))
    assert len(found) >= 5
    for owner, statement in found:
        resources = statement.get("Resource")
        every = resources == "*" or (isinstance(resources, list) and "*" in resources)
        assert not every or statement.get("Condition"), f"{owner}: {statement['Action']} on every resource"


def test_the_launch_policy_stays_scoped_to_the_recorder_cluster() -> None:
    policy = Template.load().resources("AWS::IAM::ManagedPolicy")["RecorderLaunchPolicy"]
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        if statement.get("Resource") == "*":
            assert statement["Condition"] == {
                "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["RecorderCluster", "Arn"]}}
            }


def test_functions_use_only_scoped_policies() -> None:
    """No AWS managed policy (…FullAccess) on a function: SAM templates, our statements, our policy."""
    for name, function in Template.load().resources("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies") or []:
            assert not isinstance(policy, str), f"{name} has the managed policy {policy}"


def test_in_aws_the_ingest_requires_a_token_the_stack_generates_when_none_is_given() -> None:
    template = Template.load()
    assert template.parameter_default("WebhookInboundToken") == ""
    secret = template.resources("AWS::SecretsManager::Secret")["WebhookTokenSecret"]
    assert "Condition" not in secret  # always there: generated, or holding the operator's token
    generated = secret["Properties"]["GenerateSecretString"]["Fn::If"]
    assert generated[0] == "GenerateWebhookToken"
    assert generated[1]["PasswordLength"] >= 32
    assert template.body["Conditions"]["GenerateWebhookToken"] == {
        "Fn::Equals": [{"Ref": "WebhookInboundToken"}, ""]
    }
    ingest = template.resources("AWS::Serverless::Function")["WebhookFunction"]["Properties"]
    variables = ingest["Environment"]["Variables"]
    assert variables["OPENVIDU_WEBHOOK_INBOUND_TOKEN_SECRET"] == {"Ref": "WebhookTokenSecret"}
    # the token itself is in no function's environment
    globals_ = template.body["Globals"]["Function"]["Environment"]["Variables"]
    assert "OPENVIDU_WEBHOOK_INBOUND_TOKEN" not in globals_
    # what the ingest reads in AWS: a token is required
    aws = Settings.from_env(
        {"OPENVIDU_WEBHOOK_INBOUND_TOKEN_SECRET": "arn:aws:secretsmanager:us-east-1:1:secret:t"}
    )
    assert InboundToken(aws).required
    # ... and what it reads on this machine (the secret is not made locally): any sender
    local = function_environment(template, {"SessionsTable": "local-sessions"})
    assert "OPENVIDU_WEBHOOK_INBOUND_TOKEN_SECRET" not in local
    assert "OPENVIDU_WEBHOOK_INBOUND_TOKEN" not in local
    assert not InboundToken(Settings.from_env({})).required


def test_the_outputs_say_how_openvidu_sends_the_token() -> None:
    output = Template.load().body["Outputs"]["WebhookTokenSecretArn"]
    assert "OPENVIDU_WEBHOOK_HEADERS" in output["Description"]
    assert "X-Webhook-Token" in output["Description"]


def test_the_recordings_bucket_refuses_plain_http() -> None:
    policies = Template.load().resources("AWS::S3::BucketPolicy")
    (policy,) = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": "RecordingsBucket"}]
    (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"


def test_every_checkov_skip_gives_its_reason() -> None:
    skipped = 0
    for name, resource in Template.load().body["Resources"].items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            assert skip["id"].startswith("CKV_"), (name, skip)
            assert len(skip.get("comment", "")) > 30, f"{name} skips {skip['id']} without a reason"
            skipped += 1
    assert skipped >= 20
