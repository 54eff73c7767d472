"""Build the x86_64 packages (one per function role) and run each handler from its own
package under Python 3.13 against moto, read-only and without writing bytecode."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from awsstack import DUMMY_ENV, AwsStack, make_jpeg
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
                                   if m in sys.modules)}))
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
    web = run_handler(packages["web"], "web_handler", URL_EVENT, env)
    assert web["result"]["statusCode"] == 200
    assert not {"pyvips", "PIL", "pillow_heif"} & set(web["loaded"])
    gave_up = {"requestContext": {"condition": "RetriesExhausted"}, "requestPayload": {}}
    failure = run_handler(
        packages["failure"], "failure_handler", {"Records": [{"body": json.dumps(gave_up)}]}, env
    )
    assert failure["result"] == {"failed": []} and failure["loaded"] == []


@pytest.mark.slow
def test_cold_start_command_measures_every_role(packages: dict[str, Path]) -> None:
    report = cold_start.measure(next(iter(packages.values())).parent, 1, find_python313())
    assert set(report) == {"web", "thumbnail", "failure"}
    for row in report.values():  # timings are noisy here: only their shape is checked
        assert row["init_s"] > 0 and row["boto3_s"] > 0 and row["unzipped_mb"] <= 80


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
