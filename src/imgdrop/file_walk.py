"""The CLI's inputs: files and folders walked for images (decided by content, not by name)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from imgdrop.core.keys import CONTENT_TYPES
from imgdrop.engine.sniff import sniff_type

HEAD_BYTES = 4096  # enough for every magic number sniff_type reads


@dataclass(frozen=True)
class Found:
    """A path to work on, or one that cannot be (`problem` says why)."""

    path: Path
    problem: str | None = None


def read_head(path: Path) -> bytes:
    """The first bytes of a file (raises OSError)."""
    with path.open("rb") as handle:
        return handle.read(HEAD_BYTES)


def image_type(path: Path) -> str | None:
    """The image content type of a file from its first bytes, or None."""
    try:
        kind = sniff_type(read_head(path))
    except OSError:
        return None
    return CONTENT_TYPES.get(kind) if kind else None


def _walk(folder: Path) -> Iterable[Path]:
    """Files under `folder`, sorted, skipping hidden files and folders (.git, .thumbnails…)."""
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(root) / name


def collect(paths: Iterable[Path]) -> list[Found]:
    """Named files as given; folders walked for the files whose bytes are an image."""
    found: list[Found] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            candidates = [p for p in _walk(path) if image_type(p)]
        elif path.exists():
            candidates = [path]
        else:
            found.append(Found(path, "No such file or folder."))
            continue
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:  # `photos photos/a.jpg` uploads a.jpg once
                seen.add(key)
                found.append(Found(candidate))
    return found


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (memory stays flat for big files)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def mirrored(paths: list[Path]) -> dict[Path, Path]:
    """Each path relative to the deepest folder they all share, so `a/x.jpg` and `b/x.jpg`
    keep apart as `a/x.jpg` and `b/x.jpg` (and a lone file is just its name)."""
    if not paths:
        return {}
    parents = [str(p.resolve().parent) for p in paths]
    base = Path(os.path.commonpath(parents))
    return {p: p.resolve().relative_to(base) for p in paths}
