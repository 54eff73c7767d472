"""Build the x86_64 packages (one per function role) and run each handler from its own
package under Python 3.13 against moto, read-only and without writing bytecode."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from awsstack import DUMMY_ENV, AwsStack, make_jpeg
from PIL import Image
from test_lambda_handler import s3_event, upload

from imgdrop import cold_start
from imgdrop.packaging import (
    MAX_UNZIPPED_BYTES,
    ROLES,
    build_packages,
    check_contents,
    check_wheel_tags,
    find_python313,
    package_size,
)
from imgdrop.wiring import build


def make_avif(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buf, "AVIF", speed=9)
    return buf.getvalue()


URL_EVENT = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/api/config",
    "rawQueryString": "",
    "headers": {"host": "example.lambda-url.aws"},
    "requestContext": {
        "http": {"method": "GET", "path": "/api/config", "sourceIp": "127.0.0.1"},
        "domainName": "example.lambda-url.aws",
        "stage": "$default",
    },
    "isBase64Encoded": False,
}
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import imgdrop.aws_lambda as entry
event = json.loads(sys.argv[3])
result = getattr(entry, sys.argv[2])(event, None)
print(json.dumps({"file": entry.__file__, "version": sys.version_info[:2], "result": result,
                  "loaded": sorted(m for m in ("pyvips", "PIL", "pillow_heif", "fastapi",
                                               "pydantic", "mangum", "argon2")
                                   if m in sys.modules),
                  "avif_c_api": "imgdrop.engine.libavif" in sys.modules
                                and sys.modules["imgdrop.engine.libavif"].available()}))
"""


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three packages, built once, then made read-only like Lambda's /var/task."""
    built = build_packages("x86_64", tmp_path_factory.mktemp("build") / "lambda-x86_64")
    for root in built.values():
        for path in [*root.rglob("*"), root]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)
    return built


def run_handler(package: Path, handler: str, event: dict[str, Any], env: dict[str, str]) -> Any:
    """One handler call in a fresh isolated Python 3.13 with only `package` on its path."""
    run = subprocess.run(
        [find_python313(), "-I", "-B", "-c", SCRIPT, str(package), handler, json.dumps(event)],
        env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


WEB_SESSION = """
import json, sys
sys.path.insert(0, sys.argv[1])
import imgdrop.aws_lambda as entry
entry.init_web()
watched = ("zxcvbn", "limits", "jinja2", "pyvips", "PIL", "pydantic.v1")
after_init = sorted(m for m in watched if m in sys.modules)
from fastapi.openapi.models import OpenAPI
deferred = not OpenAPI.__pydantic_complete__
answers = [entry.web_handler(event, None) for event in json.loads(sys.argv[2])]
print(json.dumps({"after_init": after_init, "answers": answers, "deferred": deferred,
                  "after_requests": sorted(m for m in watched if m in sys.modules)}))
"""


def url_event(method: str, path: str, body: Any = None, token: str = "") -> dict[str, Any]:
    """A Function URL (payload 2.0) event."""
    headers = {"host": "example.lambda-url.aws", "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {
        **URL_EVENT,
        "rawPath": path,
        "headers": headers,
        "body": json.dumps(body) if body is not None else None,
        "requestContext": {
            **URL_EVENT["requestContext"],
            "http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
        },
    }


@pytest.mark.slow
def test_each_package_holds_only_its_role(packages: dict[str, Path]) -> None:
    assert set(packages) == set(ROLES) == {"web", "thumbnail", "failure"}
    for role, root in packages.items():
        check_contents(root, role)  # raises on a forbidden library or more than 80 MB
        assert package_size(root) <= MAX_UNZIPPED_BYTES
        assert (root / "imgdrop" / "__pycache__" / "aws_lambda.cpython-313.pyc").is_file()
        assert not (root / "imgdrop" / "cli.py").exists() and not (root / "bin").exists()
    assert (packages["thumbnail"] / "pyvips_binary.libs").is_dir()
    assert not (packages["web"] / "pyvips").exists() and not (packages["web"] / "PIL").exists()
    assert not (packages["thumbnail"] / "fastapi").exists()
    assert not (packages["thumbnail"] / "imgdrop" / "web").exists()
    assert not (packages["web"] / "pydantic" / "v1").exists()  # pruned: nothing imports it
    data = packages["web"] / "botocore" / "data"
    assert [v.name for v in (data / "dynamodb").iterdir()] == ["2012-08-10"]  # newest only
    rule_set = data / "s3" / "2006-03-01" / "endpoint-rule-set-1.json.gz"
    rules = gzip.decompress(rule_set.read_bytes())
    assert b"\n" not in rules and json.loads(rules)["rules"]  # minified, still the rule set


@pytest.mark.slow
def test_handlers_run_from_their_packages_under_python_313(
    stack: AwsStack, packages: dict[str, Path], tmp_path: Path
) -> None:
    rt = build(stack.settings())
    item = upload(rt, make_jpeg(640, 480))
    env = {"HOME": str(tmp_path), **DUMMY_ENV, **stack.env}
    thumb = run_handler(
        packages["thumbnail"], "handler", s3_event(stack.bucket, item.originalKey), env
    )
    assert thumb["file"].startswith(str(packages["thumbnail"])) and thumb["version"] == [3, 13]
    assert thumb["result"] == {"processed": {item.originalKey: "done"}}
    assert "fastapi" not in thumb["loaded"] and "argon2" not in thumb["loaded"]
    assert rt.images.get_image("u1", item.imageId).status == "done"
    # AVIF through libavif's C API (the engine's fast path) works from the package too.
    avif = upload(rt, make_avif(900, 600), "dusk.avif", kind="image/avif")
    thumb = run_handler(
        packages["thumbnail"], "handler", s3_event(stack.bucket, avif.originalKey), env
    )
    assert thumb["result"] == {"processed": {avif.originalKey: "done"}} and thumb["avif_c_api"]
    web = run_handler(packages["web"], "web_handler", URL_EVENT, env)
    assert web["result"]["statusCode"] == 200
    assert not {"pyvips", "PIL", "pillow_heif"} & set(web["loaded"])
    gave_up = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": {}}
    failure = run_handler(
        packages["failure"], "failure_handler", {"Records": [{"body": json.dumps(gave_up)}]}, env
    )
    assert failure["result"] == {"failed": []} and failure["loaded"] == []


@pytest.mark.slow
def test_web_package_defers_to_first_use_and_answers_like_the_app(
    stack: AwsStack, packages: dict[str, Path], tmp_path: Path
) -> None:
    strong = "violet kettle orbit 4417 plum"
    signup = {"username": "alice", "password": strong}
    first = [
        url_event("GET", "/signin"),
        url_event("POST", "/api/signup", {"username": "alice", "password": "password123456"}),
        url_event("POST", "/api/signup", signup),
        url_event("POST", "/api/login", signup),
        url_event("GET", "/openapi.json"),
    ]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **DUMMY_ENV, **stack.env}
    env["AWS_LAMBDA_FUNCTION_NAME"] = "package-test"
    run = subprocess.run(
        [find_python313(), "-I", "-B", "-c", WEB_SESSION, str(packages["web"]), json.dumps(first)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["after_init"] == []  # each loads at the first request that needs it
    assert report["after_requests"] == ["jinja2", "limits", "zxcvbn"]
    page, weak, created, signed_in, openapi = report["answers"]
    assert report["deferred"] and openapi["statusCode"] == 200  # built at its first request
    assert "/api/uploads" in json.loads(openapi["body"])["paths"]
    assert page["statusCode"] == 200 and "<form" in page["body"]
    assert weak["statusCode"] == 400
    assert json.loads(weak["body"])["error"]["code"] == "weak_password"
    assert created["statusCode"] == 201 and signed_in["statusCode"] == 200
    token = json.loads(signed_in["body"])["token"]
    listing = run_handler(
        packages["web"], "web_handler", url_event("GET", "/api/images", token=token), env
    )
    assert listing["result"]["statusCode"] == 200
    assert json.loads(listing["result"]["body"])["items"] == []


@pytest.mark.slow
def test_cold_start_command_measures_every_role(packages: dict[str, Path]) -> None:
    report = cold_start.measure(next(iter(packages.values())).parent, 1, find_python313())
    assert set(report) == {"web", "thumbnail", "failure"}
    for row in report.values():  # timings are noisy here: only their shape is checked
        assert row["init_s"] > 0 and row["boto3_s"] > 0 and row["unzipped_mb"] <= 80
        assert len(row["runs"]) == 1
    deferred = report["web"]["first_use_s"]
    assert set(deferred) == {
        *("boto3 clients", "page templates", "zxcvbn", "rate limits", "openapi models")
    }
    assert all(seconds > 0 for seconds in deferred.values())
    assert "web made at first use instead" in cold_start.table(report)


def test_wheel_tag_check_rejects_another_architecture(tmp_path: Path) -> None:
    info = tmp_path / "native-1.0.dist-info"
    info.mkdir()
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp313-cp313-manylinux_2_28_x86_64\n")
    check_wheel_tags(tmp_path, "x86_64")
    with pytest.raises(RuntimeError, match=r"native-1\.0"):
        check_wheel_tags(tmp_path, "arm64")


def test_content_check_rejects_an_image_library_in_the_web_package(tmp_path: Path) -> None:
    (tmp_path / "PIL").mkdir()
    with pytest.raises(RuntimeError, match="web package must not contain PIL"):
        check_contents(tmp_path, "web")
