"""infra/template.yaml: the bucket, table and functions are configured as ARCHITECTURE.md says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
BUCKET_NAME = {"Fn::Sub": "${AWS::StackName}-images-${AWS::AccountId}"}


@pytest.fixture(scope="module")
def res() -> dict[str, Any]:
    """Resources by logical id, with their properties."""
    template = cfn_yaml.load(str(TEMPLATE))
    return {k: v.get("Properties", {}) for k, v in template["Resources"].items()}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The whole decoded template."""
    return dict(cfn_yaml.load(str(TEMPLATE)))


def test_bucket_is_private_encrypted_and_tidy(res: dict[str, Any]) -> None:
    bucket = res["ImagesBucket"]
    assert bucket["BucketName"] == BUCKET_NAME
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    rule = bucket["CorsConfiguration"]["CorsRules"][0]
    assert rule["ExposedHeaders"] == ["ETag"] and "POST" in rule["AllowedMethods"]
    assert "*" not in rule["AllowedOrigins"]
    lifecycle = bucket["LifecycleConfiguration"]["Rules"][0]
    assert lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1


def test_bucket_policy_denies_plain_http(res: dict[str, Any]) -> None:
    [statement] = res["ImagesBucketPolicy"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(statement["Resource"]) == 2  # the bucket and its objects


def test_table_keys_billing_and_recovery(res: dict[str, Any]) -> None:
    table = res["CatalogTable"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["KeySchema"] == [
        {"AttributeName": "userId", "KeyType": "HASH"},
        {"AttributeName": "imageId", "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        ("userId", "S"),
        ("imageId", "S"),
        ("processingShard", "N"),
        ("processingSince", "N"),
    }
    assert "TimeToLiveSpecification" not in table  # image items never expire
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "processing-since"
    assert [k["AttributeName"] for k in index["KeySchema"]] == [
        "processingShard",
        "processingSince",
    ]


def test_users_table_is_separate_with_ttl(template: dict[str, Any], res: dict[str, Any]) -> None:
    users = res["UsersTable"]
    assert users["TableName"] == {"Fn::Sub": "${AWS::StackName}-users"}
    assert users["BillingMode"] == "PAY_PER_REQUEST"
    assert users["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert users["SSESpecification"] == {"SSEEnabled": True}
    assert users["TimeToLiveSpecification"] == {"AttributeName": "expiresTtl", "Enabled": True}
    assert users["KeySchema"] == res["CatalogTable"]["KeySchema"]  # rows move over unchanged
    for name in ("CatalogTable", "UsersTable"):
        assert template["Resources"][name]["DeletionPolicy"] == "Retain"


def test_thumbnail_function_trigger_runtime_and_retries(
    template: dict[str, Any], res: dict[str, Any]
) -> None:
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13" and glob["Architectures"] == ["arm64"]
    env = glob["Environment"]["Variables"]
    assert env["IMGDROP_S3_BUCKET"] == BUCKET_NAME and env["IMGDROP_BACKEND"] == "aws"
    fn = res["ThumbnailFunction"]
    assert fn["Environment"]["Variables"]["MALLOC_ARENA_MAX"] == "2"
    assert 512 <= fn["MemorySize"] <= 3008 and fn["Timeout"] <= 900
    event = fn["Events"]["Upload"]
    assert event["Type"] == "S3" and event["Properties"]["Events"] == "s3:ObjectCreated:*"
    assert event["Properties"]["Bucket"] == {"Ref": "ImagesBucket"}
    assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": "uploads/"}
    ]
    invoke = fn["EventInvokeConfig"]
    retries = invoke["MaximumRetryAttempts"]
    assert int(env["IMGDROP_JOB_MAX_ATTEMPTS"]) == retries + 1  # the last try marks `failed`
    assert invoke["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_web_function_and_outputs(template: dict[str, Any], res: dict[str, Any]) -> None:
    web = res["WebFunction"]
    assert web["Handler"] == "imgdrop.aws_lambda.web_handler"
    assert web["FunctionUrlConfig"]["AuthType"] == "NONE"  # the app does its own sign-in
    assert set(template["Outputs"]) >= {"WebUrl", "BucketName", "TableName"}
