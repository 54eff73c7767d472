"""Settings: typed, validated at start-up, every one documented."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from imgdrop.settings import Settings, SettingsError, env_name, load_settings, settings_markdown

DOCS = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_setting_is_documented_and_docs_are_current() -> None:
    text = DOCS.read_text()
    for f in fields(Settings):
        assert f"`{env_name(f.name)}`" in text
    assert settings_markdown() in text, "regenerate: uv run imgdrop config --markdown"


def test_values_are_parsed_from_the_environment() -> None:
    s = load_settings(
        {
            "IMGDROP_PORT": "9000",
            "IMGDROP_MAX_PIXELS": "1_000_000",
            "IMGDROP_ALLOWED_TYPES": "jpeg, png",
        }
    )
    assert (s.port, s.max_pixels, s.allowed_types) == (9000, 1_000_000, ("jpeg", "png"))


@pytest.mark.parametrize(
    "env, name",
    [
        ({"IMGDROP_PORT": "eighty"}, "IMGDROP_PORT"),
        ({"IMGDROP_WORKERS": "0"}, "IMGDROP_WORKERS"),
        ({"IMGDROP_BACKEND": "gcp"}, "IMGDROP_BACKEND"),
        ({"IMGDROP_ALLOWED_TYPES": "svg"}, "IMGDROP_ALLOWED_TYPES"),
        ({"IMGDROP_DOWNLOAD_EXPIRES_S": "3600"}, "IMGDROP_DOWNLOAD_EXPIRES_S"),
        ({"IMGDROP_BACKEND": "aws"}, "IMGDROP_S3_BUCKET"),
    ],
)
def test_bad_values_fail_naming_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


def test_flags_override_the_environment() -> None:
    assert load_settings({"IMGDROP_PORT": "9000"}, port=9100, host=None).port == 9100
