"""infra/template.yaml: lints clean, every handler imports, least-privilege policies."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
BUCKET = "${AWS::StackName}-images-${AWS::AccountId}"
BUCKET_ARN = "arn:${AWS::Partition}:s3:::" + BUCKET
TABLE_ARN = {"Fn::GetAtt": ["CatalogTable", "Arn"]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The template, decoded with cfn-lint's YAML loader (intrinsics as Fn:: dicts)."""
    return dict(cfn_yaml.load(str(TEMPLATE)))


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by logical id."""
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The SAM functions' properties."""
    return {k: v["Properties"] for k, v in resources(template, "AWS::Serverless::Function").items()}


def allow_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(function, statement) for every Allow statement of every function's inline policies."""
    found = []
    for name, props in functions(template).items():
        for policy in props.get("Policies", []):
            assert isinstance(policy, dict) and "Statement" in policy, (
                f"{name}: use inline statements, not managed/SAM policy templates"
            )
            found.extend((name, s) for s in policy["Statement"] if s["Effect"] == "Allow")
    return found


def as_list(value: Any) -> list[Any]:
    """A scalar or list as a list."""
    return list(value) if isinstance(value, list) else [value]


def resource_text(resource: Any) -> str:
    """An ARN (plain, or the string of a !Sub) for inspection."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        return str(resource["Fn::Sub"])
    return json.dumps(resource) if isinstance(resource, dict) else str(resource)


def grants(template: dict[str, Any], function: str) -> set[tuple[str, str]]:
    """(action, resource) pairs one function is allowed."""
    return {
        (action, resource_text(res))
        for name, s in allow_statements(template)
        if name == function
        for action in as_list(s["Action"])
        for res in as_list(s["Resource"])
    }


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
        ("dynamodb:Scan", table),
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
    dynamo = {a for a, _ in web if a.startswith("dynamodb:")}
    assert dynamo == {
        a for s in shipped["Statement"] for a in as_list(s["Action"]) if a.startswith("dynamodb:")
    }
    assert dynamo == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:DeleteItem",
    }
