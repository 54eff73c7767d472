"""docs/api.md runs as written: its `sh` blocks, in order, against a live `imgdrop serve`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerProcess, make_jpeg

DOC = Path(__file__).parents[2] / "docs" / "api.md"
BLOCK = re.compile(r"^( *)```sh\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def sh_blocks(text: str) -> list[str]:
    """Every ```sh block, de-indented (blocks inside list items are indented)."""
    blocks = []
    for indent, body in BLOCK.findall(text):
        lines = [
            line[len(indent) :] if line.startswith(indent) else line for line in body.splitlines()
        ]
        blocks.append("\n".join(lines))
    return blocks


def expected_lines(script: str) -> list[re.Pattern[str]]:
    """The `#> …` lines: what the command above prints; `…` matches anything."""
    patterns = []
    for line in script.splitlines():
        if line.startswith("#> "):
            parts = map(re.escape, line[3:].split("…"))
            patterns.append(re.compile("^" + ".*".join(parts) + "$"))
    return patterns


def test_sh_blocks_parse_and_say_what_they_print() -> None:
    blocks = sh_blocks(DOC.read_text())
    assert len(blocks) >= 6
    assert len(expected_lines("\n".join(blocks))) >= 8
    assert "$URL" in "\n".join(blocks) and "URL=$(" in "\n".join(blocks)


def test_every_curl_example_runs_as_written(server: ServerProcess, tmp_path: Path) -> None:
    for tool in ("bash", "curl", "sha256sum"):
        assert shutil.which(tool), f"docs/api.md needs {tool} (apt-get install {tool})"
    script = "\n".join(sh_blocks(DOC.read_text()))
    (tmp_path / "cat.jpg").write_bytes(make_jpeg(800, 600))
    bin_dir = str(Path(sys.executable).parent)  # `imgdrop` and `python3` of this environment
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "IMGDROP_SERVER": server.url,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    env.pop("IMGDROP_TOKEN", None)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    printed = done.stdout.splitlines()
    position = 0
    for pattern in expected_lines(script):
        hits = [i for i, line in enumerate(printed) if i >= position and pattern.match(line)]
        assert hits, f"{pattern.pattern} not printed (in order) in:\n{done.stdout}"
        position = hits[0] + 1
    assert (tmp_path / "cat-200.jpg").read_bytes()[:2] == b"\xff\xd8"
