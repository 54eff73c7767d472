"""Reading infra/template.yaml's functions and their IAM grants (shared by tests/infra and
tests/aws, which checks every AWS call a handler makes against them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
BUCKET = "${AWS::StackName}-images-${AWS::AccountId}"
BUCKET_ARN = "arn:${AWS::Partition}:s3:::" + BUCKET
TABLE_ARN = {"Fn::GetAtt": ["CatalogTable", "Arn"]}


def load_template() -> dict[str, Any]:
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
