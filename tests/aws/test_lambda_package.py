"""Build the x86_64 Lambda package and run its handlers under Python 3.13 against moto."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from awsstack import DUMMY_ENV, AwsStack, make_jpeg
from test_lambda_handler import s3_event, upload

from imgdrop.packaging import build_package, check_wheel_tags
from imgdrop.wiring import build

PY313 = "/root/.pyenv/versions/3.13.0/bin/python3.13"
SCRIPT = """
import json, sys
import imgdrop, imgdrop.aws_lambda as entry
event = json.loads(sys.argv[1])
url_event = {"version": "2.0", "routeKey": "$default", "rawPath": "/api/config",
             "rawQueryString": "", "headers": {"host": "example.lambda-url.aws"},
             "requestContext": {"http": {"method": "GET", "path": "/api/config",
                                         "sourceIp": "127.0.0.1", "protocol": "HTTP/1.1"},
                                "domainName": "example.lambda-url.aws", "stage": "$default"},
             "isBase64Encoded": False}
web = entry.web_handler(url_event, None)
print(json.dumps({"file": imgdrop.__file__, "version": sys.version_info[:2],
                  "result": entry.handler(event, None), "web_status": web["statusCode"]}))
"""


@pytest.mark.slow
def test_x86_64_package_runs_the_handler_under_python_313(stack: AwsStack, tmp_path: Path) -> None:
    package = build_package("x86_64", tmp_path / "lambda-x86_64")
    assert (package / "pyvips_binary.libs").is_dir() and not (package / "pytest").exists()
    rt = build(stack.settings())
    item = upload(rt, make_jpeg(640, 480))
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(package),
        "PYTHONNOUSERSITE": "1",
        "HOME": str(tmp_path),
        **DUMMY_ENV,
        **stack.env,
    }
    run = subprocess.run(
        [PY313, "-c", SCRIPT, json.dumps(s3_event(stack.bucket, item.originalKey))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(package)) and report["version"] == [3, 13]
    assert report["result"] == {"processed": {item.originalKey: "done"}}
    assert report["web_status"] == 200
    assert rt.images.get_image("u1", item.imageId).status == "done"


def test_wheel_tag_check_rejects_another_architecture(tmp_path: Path) -> None:
    info = tmp_path / "native-1.0.dist-info"
    info.mkdir()
    (info / "WHEEL").write_text("Wheel-Version: 1.0\nTag: cp313-cp313-manylinux_2_28_x86_64\n")
    check_wheel_tags(tmp_path, "x86_64")
    with pytest.raises(RuntimeError, match=r"native-1\.0"):
        check_wheel_tags(tmp_path, "arm64")
