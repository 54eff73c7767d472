"""The engine against the public test-image suites in ../shared/peer-suites: every file right.

The suite's own checker runs every manifest entry through `make_thumbnails` in a fresh engine
process (timeouts and a memory cap included) and compares with reference renderings. It runs
whenever the folder exists; in CI (CI=true) a missing folder is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT.parent / "shared" / "peer-suites"


def _suite() -> Path:
    if not (SUITE / "check.py").is_file():
        message = f"the peer suites are missing: expected {SUITE}/check.py and manifest.json"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the conformance run must not be skipped)")
        pytest.skip(message)
    return SUITE


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_peer_suite_file_is_right(tmp_path: Path) -> None:
    suite = _suite()
    entries = json.loads((suite / "manifest.json").read_text())["entries"]
    command = [sys.executable, str(suite / "check.py"), "--engine-python", sys.executable]
    run = subprocess.run(
        [*command, "--out", str(tmp_path), "--jobs", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1100,
    )
    wrong = [line for line in run.stdout.splitlines() if line.startswith("WRONG")]
    summary = re.search(r"peer suites: (\d+)/(\d+) right", run.stdout)
    assert summary is not None, run.stdout[-2000:] + run.stderr[-2000:]
    assert int(summary.group(2)) == len(entries)
    assert run.returncode == 0 and not wrong, "\n".join(wrong) or run.stderr[-2000:]
    assert int(summary.group(1)) == len(entries)
