"""Every CLI test gets its own config dir (saved sign-ins) and no ambient token or server."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def own_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_CONFIG_HOME in tmp_path; IMGDROP_TOKEN and IMGDROP_SERVER unset (children inherit)."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("IMGDROP_TOKEN", raising=False)
    monkeypatch.delenv("IMGDROP_SERVER", raising=False)
    return config
