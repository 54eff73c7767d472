"""README: its links stay inside the repository and its commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parents[2]
README = (REPO / "README.md").read_text()
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_points_at_a_file_in_the_repository() -> None:
    links = [target for target in LINK.findall(README) if "://" not in target]
    assert links, "the README links its docs"
    for target in links:
        path = (REPO / target.split("#")[0]).resolve()
        assert path.is_relative_to(REPO.resolve()), f"{target} is outside the repository"
        assert path.exists(), f"{target} does not exist"
    assert "../" not in README, "a fresh clone has nothing above the repository"


def test_says_how_to_stop_the_server_and_ci_runs_the_same_test_command() -> None:
    assert "Ctrl+C" in README
    commands = re.findall(r"^uv run (\S.*?)\s+#", README, flags=re.MULTILINE)
    assert "pytest" in commands
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == "uv run pytest"
