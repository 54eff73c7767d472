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


def policy_documents(template: dict[str, Any], policies: list[Any]) -> list[dict[str, Any]]:
    """The documents of a Policies/ManagedPolicyArns list: inline statements, or a !Ref to one
    of the template's own AWS::IAM::ManagedPolicy resources (never an AWS-managed policy or a
    SAM policy template, whose contents this test could not see)."""
    documents = []
    for policy in policies:
        if isinstance(policy, dict) and "Ref" in policy:
            resource = template["Resources"][policy["Ref"]]
            assert resource["Type"] == "AWS::IAM::ManagedPolicy", policy
            documents.append(resource["Properties"]["PolicyDocument"])
        else:
            assert isinstance(policy, dict) and "Statement" in policy, (
                f"use inline statements or the template's own managed policies: {policy}"
            )
            documents.append(policy)
    return documents


def allow_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(function, statement) for every Allow statement of every function's policies."""
    found = []
    for name, props in functions(template).items():
        for document in policy_documents(template, props.get("Policies", [])):
            found.extend((name, s) for s in document["Statement"] if s["Effect"] == "Allow")
    return found


def identity_grants(template: dict[str, Any], identity: str) -> set[tuple[str, str]]:
    """(action, resource) pairs an IAM role or user of the template is allowed."""
    props = template["Resources"][identity]["Properties"]
    documents = policy_documents(template, props.get("ManagedPolicyArns", []))
    documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
    return {
        (action, resource_text(res))
        for document in documents
        for s in document["Statement"]
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
        for res in as_list(s["Resource"])
    }


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
