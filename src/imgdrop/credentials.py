"""The CLI's saved sign-ins: one bearer token per server in the user's config dir (mode 0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from platformdirs import user_config_path

from imgdrop.core.errors import ImgdropError

DEFAULT_SERVER = "http://127.0.0.1:8000"
MAX_FILE_BYTES = 1 << 20  # a hand-edited or corrupted file must not be read without bound


def credentials_path() -> Path:
    """`hosts.json` in the platform's config dir ($XDG_CONFIG_HOME/imgdrop on Linux)."""
    return user_config_path("imgdrop") / "hosts.json"


def normalise(server: str) -> str:
    """One spelling per server, so `…:8000` and `…:8000/` share a sign-in."""
    return server.strip().rstrip("/")


def _read() -> dict[str, Any]:
    path = credentials_path()
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {"servers": {}}
    except OSError as exc:
        raise ImgdropError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        if len(raw) > MAX_FILE_BYTES:
            raise ValueError("too large")
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
            raise ValueError("unexpected shape")
    except ValueError:
        raise ImgdropError(f"{path} is damaged. Delete it and run `imgdrop login` again.") from None
    return data


def _write(data: dict[str, Any]) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    aside = path.with_name(path.name + ".tmp")
    # Created 0600 from the start (never world-readable, even for an instant), then renamed.
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(aside, 0o600)  # O_CREAT leaves an existing file's mode alone
    os.replace(aside, path)


def save_login(server: str, username: str, token: str) -> Path:
    """Keep `token` for `server` and make it the default server; returns the file's path."""
    data = _read()
    key = normalise(server)
    data["servers"][key] = {"username": username, "token": token}
    data["default"] = key
    _write(data)
    return credentials_path()


def forget_login(server: str) -> dict[str, Any] | None:
    """Remove the saved sign-in for `server`; returns what was removed (None if nothing)."""
    data = _read()
    key = normalise(server)
    removed = data["servers"].pop(key, None)
    if removed is None:
        return None
    if data.get("default") == key:
        data["default"] = next(iter(data["servers"]), None)
    if data["servers"]:
        _write(data)
    else:
        credentials_path().unlink(missing_ok=True)
    return dict(removed)


def default_server() -> str:
    """The server of the last `imgdrop login`, else the local default."""
    saved = _read().get("default")
    return str(saved) if saved else DEFAULT_SERVER


def saved_token(server: str) -> str | None:
    """The token saved for `server`, if any."""
    entry = _read()["servers"].get(normalise(server))
    token = entry.get("token") if isinstance(entry, dict) else None
    return str(token) if token else None
