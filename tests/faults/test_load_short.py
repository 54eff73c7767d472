"""A short run of bench/load.py against its own `imgdrop serve`: no errors, every upload done."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOAD = Path(__file__).resolve().parents[2] / "bench" / "load.py"


def test_short_load_run_has_no_errors_and_all_uploads_done(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [
            sys.executable,
            str(LOAD),
            "--users",
            "10",
            "--duration",
            "10",
            "--min-mp",
            "0.1",
            "--max-mp",
            "0.6",
            "--think",
            "0.3",
            "--sample-s",
            "1",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert figures["errors"] == 0, figures["first_errors"]
    assert figures["uploads"] >= 10, figures
    assert figures["done"] == figures["uploads"], figures
    assert figures["gallery_p95_ms"] > 0 and figures["upload_to_done_p95_s"] > 0
    assert figures["rss_samples"] >= 5 and figures["rss_load_peak_mb"] > 0
