"""Fixtures of the fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.faultlib import Runner


@pytest.fixture(scope="session")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """The crash runner, shared: each call is a fresh forked process."""
    proc = Runner(tmp_path_factory.mktemp("runner") / "runner.log")
    yield proc
    proc.close()
