"""infra/template.yaml: per-role packages, the web app anywhere (one policy for every web
identity), abuse limits, alarms, the dashboard and log retention; the SAM transform and SAM's
own validation accept it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest
from tests.infra.policies import (
    TEMPLATE,
    functions,
    grants,
    identity_grants,
    load_template,
    resources,
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The decoded template."""
    return load_template()


def test_each_role_has_its_own_arm64_package(template: dict[str, Any]) -> None:
    assert "CodeUri" not in template["Globals"]["Function"]
    uris = {name: props["CodeUri"] for name, props in functions(template).items()}
    assert uris == {
        "ThumbnailFunction": "../build/lambda-arm64/thumbnail",
        "SweeperFunction": "../build/lambda-arm64/thumbnail",  # it makes thumbnails too
        "ThumbnailFailureFunction": "../build/lambda-arm64/failure",
        "WebFunction": "../build/lambda-arm64/web",
    }
    # The documented swap: the same paths with x86_64 are what `--arch x86_64` builds.
    from imgdrop.packaging import ROLES

    for uri in uris.values():
        assert uri.replace("arm64", "x86_64").rsplit("/", 1)[-1] in ROLES


def test_external_identities_have_exactly_the_web_functions_permissions(
    template: dict[str, Any],
) -> None:
    web = grants(template, "WebFunction")
    assert web  # the web function's role attaches the shared policy
    assert identity_grants(template, "WebAppExternalRole") == web
    assert identity_grants(template, "WebAppUser") == web
    res = template["Resources"]
    assert functions(template)["WebFunction"]["Policies"] == [{"Ref": "WebAppPolicy"}]
    for name in ("WebAppExternalRole", "WebAppUser"):
        assert res[name]["Properties"]["ManagedPolicyArns"] == [{"Ref": "WebAppPolicy"}]
        assert "Policies" not in res[name]["Properties"]


def test_hosting_parameter_chooses_lambda_or_external(template: dict[str, Any]) -> None:
    params, res = template["Parameters"], template["Resources"]
    assert params["WebHosting"]["AllowedValues"] == ["lambda", "external"]
    assert res["WebFunction"]["Condition"] == "WebOnLambda"
    assert res["WebAppExternalRole"]["Condition"] == "ExternalOidcRole"
    for name in ("WebAppUser", "WebAppAccessKey", "WebAppAccessKeySecret"):
        assert res[name]["Condition"] == "ExternalUser"
    secret = res["WebAppAccessKeySecret"]["Properties"]["SecretString"]["Fn::Sub"]
    assert "${WebAppAccessKey}" in secret and "${WebAppAccessKey.SecretAccessKey}" in secret
    assert template["Outputs"]["WebUrl"]["Condition"] == "WebOnLambda"


def test_oidc_trust_is_pinned_to_one_issuer_audience_and_subject(
    template: dict[str, Any],
) -> None:
    trust = template["Resources"]["WebAppExternalRole"]["Properties"]["AssumeRolePolicyDocument"]
    values = {
        "AWS::Partition": "aws",
        "AWS::AccountId": "123456789012",
        "ExternalOidcIssuer": "oidc.vercel.com/acme",
        "ExternalOidcAudience": "https://vercel.com/acme",
        "ExternalOidcSubject": "owner:acme:project:imgdrop:environment:production",
    }
    text = re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], trust["Fn::Sub"])
    [statement] = json.loads(text)["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {
        "Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.vercel.com/acme"
    }
    assert statement["Condition"] == {
        "StringEquals": {"oidc.vercel.com/acme:aud": "https://vercel.com/acme"},
        "StringLike": {
            "oidc.vercel.com/acme:sub": "owner:acme:project:imgdrop:environment:production"
        },
    }


def test_web_function_limits_and_snapstart(template: dict[str, Any]) -> None:
    web = functions(template)["WebFunction"]
    assert web["ReservedConcurrentExecutions"] == {
        "Fn::If": ["WebReserved", {"Ref": "WebReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert template["Parameters"]["WebReservedConcurrency"]["Default"] > 0
    assert web["AutoPublishAlias"] == "live"
    assert web["SnapStart"] == {
        "ApplyOn": {"Fn::If": ["WebSnapStartOn", "PublishedVersions", "None"]}
    }


def test_every_function_has_a_log_group_with_retention(template: dict[str, Any]) -> None:
    groups = resources(template, "AWS::Logs::LogGroup").values()
    named = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups}
    assert named == {f"/aws/lambda/${{{name}}}" for name in functions(template)}
    for group in groups:
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def dimension(alarm: dict[str, Any]) -> str:
    """An alarm's first dimension value, as JSON ("null" for a custom metric without one)."""
    return json.dumps(alarm.get("Dimensions", [{}])[0].get("Value"))


def test_alarms_cover_failures_errors_and_throttles(template: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    watched = {
        (
            str(p["Namespace"]),
            p["MetricName"],
            json.dumps(p.get("Dimensions", [{}])[0].get("Value")),
        )
        for p in alarms
    }
    assert any(
        m == "ApproximateNumberOfMessagesVisible" and "ThumbnailFailureQueue" in d
        for _, m, d in watched
    )
    for function, metric in [
        ("ThumbnailFunction", "Errors"),
        ("ThumbnailFunction", "Throttles"),
        ("SweeperFunction", "Errors"),
    ]:
        assert ("AWS/Lambda", metric, json.dumps({"Ref": function})) in watched
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "AlarmEmailSet"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_dashboard_metrics_come_from_the_json_logs(template: dict[str, Any]) -> None:
    filters = [f["Properties"] for f in resources(template, "AWS::Logs::MetricFilter").values()]
    by_metric = {f["MetricTransformations"][0]["MetricName"]: f for f in filters}
    assert set(by_metric) >= {"Uploads", "Done", "Failed", "ProcessingTime"}
    assert by_metric["ProcessingTime"]["MetricTransformations"][0]["MetricValue"] == "$.ms"
    assert '$.status = "done"' in by_metric["Done"]["FilterPattern"]
    body_template, _ = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", body_template))
    stats = {json.dumps(m[-1]) for w in body["widgets"] for m in w["properties"]["metrics"] if m}
    assert any('"p50"' in s for s in stats) and any('"p95"' in s for s in stats)
    names = {m[1] for w in body["widgets"] for m in w["properties"]["metrics"]}
    assert {"Uploads", "Done", "Failed", "ProcessingTime"} <= names


TRANSFORM = """
import json, sys
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoIam(ManagedPolicyLoader):
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():  # as `sam deploy` uploads each package
    props = resource.get("Properties", {})
    if "CodeUri" in props:
        props["CodeUri"] = "s3://artifacts/" + props["CodeUri"].rsplit("/", 2)[-1] + ".zip"
print(json.dumps({h: transform(template, {"WebHosting": h}, NoIam(None))
                  for h in ("lambda", "external")}, default=str))
"""


def sam_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a command in the SAM CLI's own tool environment (uvx), telemetry off."""
    uvx = shutil.which("uvx")
    assert uvx, "uvx (from uv) runs the SAM CLI in its own environment"
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run(
        [uvx, "--from", "aws-sam-cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


@pytest.mark.slow
def test_the_sam_transform_expands_both_hostings() -> None:
    """samtranslator (what CloudFormation's SAM transform runs) expands the template: the web
    function, its `live` alias and the Function URL on that alias exist only for Lambda
    hosting, and the web role attaches the shared policy."""
    run = sam_tool("python", "-c", TRANSFORM, str(TEMPLATE))
    assert run.returncode == 0, run.stderr
    for hosting, out in json.loads(run.stdout).items():
        res = out["Resources"]
        assert not any(r["Type"].startswith("AWS::Serverless::") for r in res.values()), hosting
        url = res["WebFunctionUrl"]
        assert url["Type"] == "AWS::Lambda::Url" and url["Condition"] == "WebOnLambda"
        assert url["Properties"]["TargetFunctionArn"] == {"Ref": "WebFunctionAliaslive"}
        assert res["WebFunctionAliaslive"]["Condition"] == "WebOnLambda"
        role = res["WebFunctionRole"]["Properties"]
        assert {"Ref": "WebAppPolicy"} in role["ManagedPolicyArns"]
        assert res["WebFunction"]["Properties"]["ReservedConcurrentExecutions"]["Fn::If"][0] == (
            "WebReserved"
        )


@pytest.mark.slow
def test_sam_validate_lint_passes() -> None:
    """`sam validate --lint` from the SAM CLI, in its own tool environment (uvx)."""
    run = sam_tool(
        "sam", "validate", "--lint", "--template", str(TEMPLATE), "--region", "us-east-1"
    )
    assert run.returncode == 0 and "is a valid SAM Template" in run.stdout, run.stdout + run.stderr
