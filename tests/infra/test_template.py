"""infra/template.yaml: lints clean, every handler imports, least-privilege policies."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.infra.policies import (
    BUCKET,
    BUCKET_ARN,
    ROOT,
    TABLE_ARN,
    TEMPLATE,
    allow_statements,
    as_list,
    functions,
    grants,
    load_template,
    resource_text,
)

USERS_ARN = {"Fn::GetAtt": ["UsersTable", "Arn"]}
STALE_INDEX_ARN = "${CatalogTable.Arn}/index/processing-since"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The template, decoded with cfn-lint's YAML loader (intrinsics as Fn:: dicts)."""
    return load_template()


@pytest.mark.slow
def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    run = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_handler_imports(template: dict[str, Any]) -> None:
    handlers = [p["Handler"] for p in functions(template).values()]
    assert len(handlers) == 4
    for handler in handlers:
        module, _, name = handler.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), handler


def test_no_wildcard_s3_or_dynamodb_grants(template: dict[str, Any]) -> None:
    statements = allow_statements(template)
    assert statements
    for name, statement in statements:
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{name}: wildcard action {action}"
        for resource in as_list(statement["Resource"]):
            text = resource_text(resource)
            assert text != "*" and ":::*" not in text and "table/*" not in text, name
            if text == BUCKET_ARN:  # the bucket itself: listing, and only under uploads/
                assert as_list(statement["Action"]) == ["s3:ListBucket"], name
                assert statement["Condition"] == {"StringLike": {"s3:prefix": "uploads/*"}}
            elif ":s3:::" in text:  # object ARNs: this bucket, one of its two prefixes
                assert text in {BUCKET_ARN + "/uploads/*", BUCKET_ARN + "/thumbnails/*"}


def test_thumbnail_function_has_only_what_it_needs(template: dict[str, Any]) -> None:
    table = resource_text(TABLE_ARN)
    assert grants(template, "ThumbnailFunction") == {
        ("s3:GetObject", BUCKET_ARN + "/uploads/*"),
        ("s3:PutObject", BUCKET_ARN + "/thumbnails/*"),
        ("s3:DeleteObject", BUCKET_ARN + "/thumbnails/*"),  # item deleted mid-processing
        ("dynamodb:GetItem", table),
        ("dynamodb:UpdateItem", table),
    }


def test_sweeper_has_only_what_it_needs(template: dict[str, Any]) -> None:
    table = resource_text(TABLE_ARN)
    assert grants(template, "SweeperFunction") == {
        ("s3:GetObject", BUCKET_ARN + "/uploads/*"),
        ("s3:PutObject", BUCKET_ARN + "/thumbnails/*"),
        ("s3:DeleteObject", BUCKET_ARN + "/thumbnails/*"),  # item deleted mid-processing
        ("s3:ListBucket", BUCKET_ARN),
        ("dynamodb:GetItem", table),
        ("dynamodb:UpdateItem", table),
        ("dynamodb:Query", STALE_INDEX_ARN),  # the sparse index only: no Scan, no table Query
    }
    events = functions(template)["SweeperFunction"]["Events"]
    assert [e["Type"] for e in events.values()] == ["Schedule"]


def test_failure_consumer_has_only_what_it_needs(template: dict[str, Any]) -> None:
    table = resource_text(TABLE_ARN)
    queue = resource_text({"Fn::GetAtt": ["ThumbnailFailureQueue", "Arn"]})
    assert grants(template, "ThumbnailFailureFunction") == {
        ("dynamodb:GetItem", table),
        ("dynamodb:UpdateItem", table),
        ("sqs:ReceiveMessage", queue),
        ("sqs:DeleteMessage", queue),
        ("sqs:GetQueueAttributes", queue),
    }
    events = functions(template)["ThumbnailFailureFunction"]["Events"]
    assert [(e["Type"], e["Properties"]["Queue"]) for e in events.values()] == [
        ("SQS", {"Fn::GetAtt": ["ThumbnailFailureQueue", "Arn"]})
    ]


def test_only_the_web_app_reaches_the_users_table(template: dict[str, Any]) -> None:
    users = resource_text(USERS_ARN)
    reach = {
        name
        for name, s in allow_statements(template)
        for r in as_list(s["Resource"])
        if "UsersTable" in resource_text(r)
    }
    assert reach == {"WebFunction"}
    assert {a for a, r in grants(template, "WebFunction") if r == users} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
    }
    web_env = functions(template)["WebFunction"]["Environment"]["Variables"]
    assert web_env["IMGDROP_USERS_TABLE"] == {"Ref": "UsersTable"}
    assert "IMGDROP_USERS_TABLE" not in template["Globals"]["Function"]["Environment"]["Variables"]


def test_web_policy_matches_the_shipped_iam_policy(template: dict[str, Any]) -> None:
    shipped = json.loads((ROOT / "infra" / "webapp-iam-policy.json").read_text())
    in_file = {
        (a, r.replace("BUCKET_NAME", BUCKET).replace("arn:aws:", "arn:${AWS::Partition}:"))
        for s in shipped["Statement"]
        for a in as_list(s["Action"])
        for r in as_list(s["Resource"])
        if ":s3:" in r
    }
    web = grants(template, "WebFunction")
    assert in_file == {g for g in web if g[0].startswith("s3:")}
    table_of = {
        resource_text(TABLE_ARN): "TABLE_NAME",
        resource_text(USERS_ARN): "USERS_TABLE_NAME",
    }
    dynamo = {(a, table_of[r]) for a, r in web if a.startswith("dynamodb:")}
    assert dynamo == {
        (a, r.rsplit("/", 1)[-1])
        for s in shipped["Statement"]
        for a in as_list(s["Action"])
        for r in as_list(s["Resource"])
        if a.startswith("dynamodb:")
    }
    assert {a for a, t in dynamo if t == "TABLE_NAME"} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
    }


def test_every_web_instance_shares_one_device_key_from_secrets_manager(
    template: dict[str, Any],
) -> None:
    """Known-device tokens must verify on every instance: one generated secret, named to the
    web app by ARN (the value never in a function's environment), readable by it alone."""
    secret = template["Resources"]["DeviceKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    web_env = functions(template)["WebFunction"]["Environment"]["Variables"]
    assert web_env["IMGDROP_SECRET_KEY_ARN"] == {"Ref": "DeviceKeySecret"}
    envs = [template["Globals"]["Function"]["Environment"]["Variables"]]
    envs += [f.get("Environment", {}).get("Variables", {}) for f in functions(template).values()]
    assert not any("IMGDROP_SECRET_KEY" in env for env in envs)
    reach = {
        (name, action)
        for name, s in allow_statements(template)
        for r in as_list(s["Resource"])
        if "DeviceKeySecret" in resource_text(r)
        for action in as_list(s["Action"])
    }
    assert reach == {("WebFunction", "secretsmanager:GetSecretValue")}
    shipped = json.loads((ROOT / "infra" / "webapp-iam-policy.json").read_text())
    assert [
        (s["Action"], s["Resource"])
        for s in shipped["Statement"]
        if "secretsmanager" in str(s["Action"])
    ] == [("secretsmanager:GetSecretValue", "DEVICE_KEY_SECRET_ARN")]
