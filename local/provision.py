"""Creates the template's resources in moto (or wherever AWS_ENDPOINT_URL points).

Names are deterministic, `<stack>-<LogicalId>`, so a restart finds what it made before.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from local.template import Template

LOCAL_STACK = "ovha-local"


def physical_name(logical_id: str, stack: str = LOCAL_STACK, lower: bool = False) -> str:
    name = f"{stack}-{logical_id}"
    return name.lower() if lower else name  # S3 bucket names are lower case


def table_arguments(properties: dict[str, Any], name: str) -> dict[str, Any]:
    """CreateTable arguments from an AWS::DynamoDB::Table's properties (the keys match the API's)."""
    arguments: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if properties.get("GlobalSecondaryIndexes"):
        arguments["GlobalSecondaryIndexes"] = properties["GlobalSecondaryIndexes"]
    return arguments


def create_tables(dynamodb: Any, template: Template, stack: str = LOCAL_STACK) -> dict[str, str]:
    """Creates each table (TTL and point-in-time recovery as declared); returns logical id -> name."""
    names = {}
    for logical_id, resource in template.resources("AWS::DynamoDB::Table").items():
        properties = resource["Properties"]
        name = physical_name(logical_id, stack)
        try:
            dynamodb.create_table(**table_arguments(properties, name))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceInUseException":
                raise
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        pitr = properties.get("PointInTimeRecoverySpecification")
        if pitr:
            dynamodb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=pitr)
        names[logical_id] = name
    return names


def create_buckets(s3: Any, template: Template, stack: str = LOCAL_STACK) -> dict[str, str]:
    """Creates each bucket (versioning as declared); returns logical id -> name."""
    names = {}
    for logical_id, resource in template.resources("AWS::S3::Bucket").items():
        name = physical_name(logical_id, stack, lower=True)
        try:
            s3.create_bucket(Bucket=name)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        versioning = (resource.get("Properties") or {}).get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
        names[logical_id] = name
    return names


def create_queues(sqs: Any, template: Template, stack: str = LOCAL_STACK) -> dict[str, str]:
    """Creates the queues, dead-letter queues first; returns logical id -> queue URL (what !Ref gives)."""
    queues = template.resources("AWS::SQS::Queue")
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    ordered = sorted(queues, key=lambda q: "RedrivePolicy" in (queues[q].get("Properties") or {}))
    for logical_id in ordered:
        properties = dict(queues[logical_id].get("Properties") or {})
        attributes = {
            k: str(properties[k]).lower() if isinstance(properties[k], bool) else str(properties[k])
            for k in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "FifoQueue",
                "DeduplicationScope",
                "FifoThroughputLimit",
            )
            if k in properties
        }
        fifo = ".fifo" if properties.get("FifoQueue") else ""  # CloudFormation adds it too
        redrive = properties.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": redrive["maxReceiveCount"]}
            )
        url = sqs.create_queue(QueueName=physical_name(logical_id, stack) + fifo, Attributes=attributes)[
            "QueueUrl"
        ]
        urls[logical_id] = url
        arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    return urls
